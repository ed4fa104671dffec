package leak

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/pyharness/pyharness/internal/ownership"
	"github.com/pyharness/pyharness/internal/proc"
)

// ownerMarker is the environment entry every pyharness worker carries (see
// realpy.EnvOwnerPid); it is inherited by whatever the worker spawns.
const ownerMarker = "PYHARNESS_OWNER_PID"

// forkedPrefix starts the name of a worker a zygote forked, followed by the
// pid of the process that asked for it.
const forkedPrefix = "pyh:"

// Process is a live process found by a check.
type Process struct {
	Pid     int
	PPid    int
	Pgid    int
	State   string // one-letter state from /proc/<pid>/stat, e.g. "S" or "Z"
	Comm    string // the process name
	Cmdline string
}

// String names the process: for an interpreter realpy started, by its
// kind, worker id and start site; for others, by its command line.
func (p Process) String() string {
	if t := ownership.ByPid(p.Pid); t != nil {
		return Describe(p)
	}
	return fmt.Sprintf("pid %d (ppid %d, pgid %d, state %s): %s", p.Pid, p.PPid, p.Pgid, p.State, p.Cmdline)
}

// Describe names p as a leak report does: an interpreter realpy started by
// its kind, worker id, pid and start site (a forked worker is named
// "pyh:<owner pid>" by its zygote, and has the zygote's command line); any
// other process by its pid and command line.
func Describe(p Process) string {
	t := ownership.ByPid(p.Pid)
	if t == nil {
		return fmt.Sprintf("pid %d (ppid %d): %s", p.Pid, p.PPid, p.Cmdline)
	}
	return Leak{Kind: string(t.Kind), ID: t.ID, Pid: t.Pid, Site: t.Site, Func: t.Func}.String()
}

// accountedSince reports whether pid is an interpreter (or runs under one)
// that a pool, zygote or shared pool accounts for, one that ran before seq
// or was started for the whole binary: a replacement of a crashed worker,
// say. It is no test's leak.
func accountedSince(pid int, seq uint64) bool {
	t := ancestorEntry(pid)
	if t == nil {
		return false
	}
	r := t.Root()
	return r != t && r.Seq <= seq || r.Suite
}

// OwnedProcesses returns the live processes this Go process is responsible
// for: its own children (zombies included, since nobody reaped them), any
// process whose environment carries PYHARNESS_OWNER_PID=<our pid>, which
// finds a worker's descendants too, and workers a shared zygote forked for
// us (named "pyh:<our pid>"; workers it forked for other processes are
// theirs). An empty result means nothing leaked.
func OwnedProcesses() ([]Process, error) {
	return ProcessesOwnedBy(os.Getpid())
}

// ProcessesOwnedBy is OwnedProcesses for another owner pid, e.g. a child Go
// process killed outright.
func ProcessesOwnedBy(owner int) ([]Process, error) {
	pids, err := proc.Pids()
	if err != nil {
		return nil, fmt.Errorf("isolation: %w", err)
	}
	// A process that started before the owner cannot carry the owner's
	// marker, which the owner gives what it starts: its environment is not
	// read (reading every process's stat and environment on each check
	// costs a spec more than its body). 0 when the owner is gone: nothing
	// is left out.
	var ownerStart uint64
	if st, ok := proc.ReadStat(owner); ok {
		ownerStart = st.Start
	}
	stats := make(map[int]proc.Stat, len(pids))
	for _, pid := range pids {
		if st, ok := proc.ReadStat(pid); ok {
			stats[pid] = st
		} // else gone meanwhile
	}
	ownerStr := strconv.Itoa(owner)
	var found []Process
	for _, pid := range pids {
		st, ok := stats[pid]
		if !ok || pid == owner {
			continue
		}
		if st.PPid == owner {
			found = append(found, process(st))
			continue
		}
		if st.State == "Z" {
			continue // dead, waiting for a parent that is not ours to reap it
		}
		if forOwner, ok := strings.CutPrefix(st.Comm, forkedPrefix); ok {
			if forOwner == ownerStr {
				found = append(found, process(st))
			}
			continue // a fork some other process asked for
		}
		if st.Start < ownerStart {
			continue // older than the owner: not started for it
		}
		if zygoteFork(st, stats) {
			continue // forked a moment ago, not named yet: it is whoever asked for it's, and says so by name at once
		}
		if v, ok := proc.Getenv(proc.Environ(pid), ownerMarker); ok && v == ownerStr {
			found = append(found, process(st))
		}
	}
	sort.Slice(found, func(i, j int) bool { return found[i].Pid < found[j].Pid })
	return found, nil
}

// zygoteFork reports whether st is a worker a zygote forked a moment ago
// and has not named yet: a child of a process of the same name and command
// line, the zygote's. stats holds the processes of the same look at /proc.
func zygoteFork(st proc.Stat, stats map[int]proc.Stat) bool {
	parent, ok := stats[st.PPid]
	if !ok || parent.Comm != st.Comm {
		return false
	}
	cmd := proc.Cmdline(st.Pid)
	return slices.Contains(cmd, zygoteModule) && slices.Equal(cmd, proc.Cmdline(st.PPid))
}

// zygoteModule is the module a zygote runs as (python -m).
const zygoteModule = "pyharness_worker.zygote"

// ProcessAlive reports whether pid names a process that has not died: a
// zombie counts as dead.
func ProcessAlive(pid int) bool {
	st, ok := proc.ReadStat(pid)
	return ok && !st.Dead()
}

func process(st proc.Stat) Process {
	return Process{Pid: st.Pid, PPid: st.PPid, Pgid: st.Pgid, State: st.State, Comm: st.Comm,
		Cmdline: strings.Join(proc.Cmdline(st.Pid), " ")}
}

// NewProcesses returns the processes of after that were not in before: what
// a test started and left, when before was taken as it began.
func NewProcesses(before, after []Process) []Process {
	known := map[int]bool{}
	for _, p := range before {
		known[p.Pid] = true
	}
	var fresh []Process
	for _, p := range after {
		if !known[p.Pid] {
			fresh = append(fresh, p)
		}
	}
	return fresh
}
