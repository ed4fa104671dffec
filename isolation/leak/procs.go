package leak

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
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

func (p Process) String() string {
	return fmt.Sprintf("pid %d (ppid %d, pgid %d, state %s): %s", p.Pid, p.PPid, p.Pgid, p.State, p.Cmdline)
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
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("isolation: list processes: %w", err)
	}
	marker := []byte(ownerMarker + "=" + strconv.Itoa(owner) + "\x00")
	var found []Process
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == owner {
			continue
		}
		p, ok := readProcess(pid)
		if !ok {
			continue // gone meanwhile
		}
		if p.PPid == owner {
			found = append(found, p)
			continue
		}
		if p.State == "Z" {
			continue // dead, waiting for a parent that is not ours to reap it
		}
		if forOwner, ok := strings.CutPrefix(p.Comm, forkedPrefix); ok {
			if forOwner == strconv.Itoa(owner) {
				found = append(found, p)
			}
			continue // a fork some other process asked for
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		if bytes.HasPrefix(env, marker) || bytes.Contains(env, append([]byte{0}, marker...)) {
			found = append(found, p)
		}
	}
	sort.Slice(found, func(i, j int) bool { return found[i].Pid < found[j].Pid })
	return found, nil
}

// ProcessAlive reports whether pid names a process that has not died: a
// zombie counts as dead.
func ProcessAlive(pid int) bool {
	p, ok := readProcess(pid)
	return ok && p.State != "Z" && p.State != "X"
}

func readProcess(pid int) (Process, bool) {
	dir := filepath.Join("/proc", strconv.Itoa(pid))
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return Process{}, false
	}
	// pid (comm) state ppid pgrp ...; comm may contain spaces and parentheses.
	end := bytes.LastIndexByte(stat, ')')
	start := bytes.IndexByte(stat, '(')
	if end < 0 || start < 0 || start > end {
		return Process{}, false
	}
	comm := string(stat[start+1 : end])
	fields := strings.Fields(string(stat[end+1:]))
	if len(fields) < 3 {
		return Process{}, false
	}
	ppid, _ := strconv.Atoi(fields[1])
	pgid, _ := strconv.Atoi(fields[2])
	cmdline, _ := os.ReadFile(filepath.Join(dir, "cmdline"))
	return Process{
		Pid:     pid,
		PPid:    ppid,
		Pgid:    pgid,
		State:   fields[0],
		Comm:    comm,
		Cmdline: strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " ")),
	}, true
}
