package realpy

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pyharness/pyharness/internal/proc"
	"github.com/pyharness/pyharness/internal/randid"
)

// newRunID returns a fresh run id. Every interpreter of a pool carries its
// run id (PYHARNESS_RUN_ID in its environment, --run-id in its argv) and its
// owner's pid (PYHARNESS_OWNER_PID), which is how ReapOrphans finds the
// interpreters of runs whose owner died.
func newRunID() string {
	return "run-" + randid.Hex(8)
}

// Orphan is an interpreter left behind by a dead owner.
type Orphan struct {
	Pid, Pgid, Owner int
	RunID            string
}

// ReapOrphans kills, with their process groups, the interpreters of earlier
// runs whose owner process is dead (killed outright, so it could not clean
// up), waits until they are gone, removes the temporary directories such
// runs left (zygote and container sockets), and returns what it killed.
// Every interpreter pyharness starts carries its owner's pid, whatever API
// started it (Start, StartZygote, StartPool, a shim's resolution), so all are
// found. The first Start, StartZygote or StartPool of a process calls it; a
// run that is alive is never touched.
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
	reapTempDirs()
	reapStaleHosts()
	return orphans, nil
}

// reapStaleHosts kills the warm hosts whose directory or record is gone or
// names another key or pid (an idle, current host is left alone).
func reapStaleHosts() {
	pids, err := proc.Pids()
	if err != nil {
		return
	}
	for _, pid := range pids {
		env := proc.Environ(pid)
		key, ok := proc.Getenv(env, envHostKey)
		if !ok {
			continue
		}
		dir, _ := proc.Getenv(env, envHostDir)
		rec, err := readHostRecord(dir)
		if err == nil && rec.Key == key && rec.Pid == pid {
			continue
		}
		if st, ok := proc.ReadStat(pid); ok && st.Session == pid { // the host itself (a session leader), not one of its forks
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			waitGone(pid, 5*time.Second)
		}
	}
}

var reapOnce = sync.OnceValue(func() error {
	_, err := ReapOrphans()
	return err
})

// reapOrphansOnce reaps what dead runs left, once per process: the next run
// cleans up after one killed outright, with no call of the user's.
func reapOrphansOnce() error { return reapOnce() }

// reapTempDirs removes the temporary directories of dead owners.
func reapTempDirs() {
	entries, err := os.ReadDir(os.TempDir())
	if err != nil {
		return
	}
	for _, e := range entries {
		parts := strings.Split(e.Name(), "-")
		if !e.IsDir() || !strings.HasPrefix(e.Name(), proc.TempPrefix) || len(parts) != 5 {
			continue
		}
		owner, err1 := strconv.Atoi(parts[2])
		started, err2 := strconv.ParseUint(parts[3], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		if now, alive := proc.StartTime(owner); alive && now == started {
			continue
		}
		_ = os.RemoveAll(filepath.Join(os.TempDir(), e.Name()))
	}
}

func findOrphans() ([]Orphan, error) {
	pids, err := proc.Pids()
	if err != nil {
		return nil, fmt.Errorf("realpy: find orphans: %w", err)
	}
	var found []Orphan
	for _, pid := range pids {
		env := proc.Environ(pid)
		ownerVar, ok := proc.Getenv(env, EnvOwnerPid)
		if !ok {
			continue
		}
		owner, err := strconv.Atoi(ownerVar)
		if err != nil {
			continue
		}
		runID, _ := proc.Getenv(env, EnvRunID)
		st, ok := proc.ReadStat(pid)
		if !ok || st.Dead() || ownerAlive(owner, st.Start) {
			continue
		}
		found = append(found, Orphan{Pid: pid, Pgid: st.Pgid, Owner: owner, RunID: runID})
	}
	return found, nil
}

// ownerAlive reports whether owner still runs and is the process that
// started a child at childStart (a pid reused by a newer process is not).
func ownerAlive(owner int, childStart uint64) bool {
	start, ok := proc.StartTime(owner)
	return ok && start <= childStart
}
