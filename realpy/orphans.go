package realpy

import (
	"fmt"
	"strconv"
	"syscall"
	"time"

	"github.com/pyharness/pyharness/internal/proc"
	"github.com/pyharness/pyharness/internal/randid"
)

// NewRunID returns a fresh run id. Every interpreter of a pool carries its
// run id (PYHARNESS_RUN_ID in its environment, --run-id in its argv) and its
// owner's pid (PYHARNESS_OWNER_PID), which is how ReapOrphans finds the
// interpreters of runs whose owner died.
func NewRunID() string {
	return "run-" + randid.Hex(8)
}

// Orphan is an interpreter left behind by a dead owner.
type Orphan struct {
	Pid, Pgid, Owner int
	RunID            string
}

// ReapOrphans kills, with their process groups, the interpreters of earlier
// runs whose owner process is dead (killed outright, so it could not clean
// up), waits until they are gone, and returns what it killed. StartPool
// calls it; a run that is alive is never touched.
func ReapOrphans() ([]Orphan, error) {
	orphans, err := findOrphans()
	if err != nil {
		return nil, err
	}
	for _, o := range orphans {
		_ = syscall.Kill(-o.Pgid, syscall.SIGKILL)
		_ = syscall.Kill(o.Pid, syscall.SIGKILL)
	}
	for _, o := range orphans {
		waitGone(o.Pid, 5*time.Second)
	}
	return orphans, nil
}

func findOrphans() ([]Orphan, error) {
	pids, err := proc.Pids()
	if err != nil {
		return nil, fmt.Errorf("realpy: find orphans: %w", err)
	}
	var found []Orphan
	for _, pid := range pids {
		env := proc.Environ(pid)
		runID, ok := proc.Getenv(env, EnvRunID)
		if !ok || runID == "" {
			continue
		}
		ownerVar, _ := proc.Getenv(env, EnvOwnerPid)
		owner, err := strconv.Atoi(ownerVar)
		if err != nil {
			continue
		}
		st, ok := proc.ReadStat(pid)
		if !ok || st.Dead() || ownerAlive(owner, st.Start) {
			continue
		}
		found = append(found, Orphan{Pid: pid, Pgid: st.Pgid, Owner: owner, RunID: runID})
	}
	return found, nil
}

// ProcessStartTime returns when a live process started, in clock ticks since
// boot; with its pid it names a process even after the pid is reused.
func ProcessStartTime(pid int) (uint64, bool) {
	st, ok := proc.ReadStat(pid)
	if !ok || st.Dead() {
		return 0, false
	}
	return st.Start, true
}

// ownerAlive reports whether owner still runs and is the process that
// started a child at childStart (a pid reused by a newer process is not).
func ownerAlive(owner int, childStart uint64) bool {
	start, ok := ProcessStartTime(owner)
	return ok && start <= childStart
}
