// Package proc reads what pyharness needs of Linux's /proc: process status,
// command lines, environments and pid namespaces. realpy (orphan reaping,
// host pids of container workers) and isolation/leak (leak checks) share it.
package proc

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Stat is the part of /proc/<pid>/stat pyharness uses.
type Stat struct {
	Pid     int
	Comm    string // the process name
	State   string // one letter: R, S, D, Z, T, X, ...
	PPid    int
	Pgid    int
	Session int
	Start   uint64 // start time, clock ticks since boot: with the pid, it names a process even after the pid is reused
}

// Dead reports whether the process has ended (a zombie counts as dead).
func (s Stat) Dead() bool { return s.State == "Z" || s.State == "X" }

// Pids lists the processes now running.
func Pids() ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("proc: list processes: %w", err)
	}
	pids := make([]int, 0, len(entries))
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// ReadStat reads /proc/<pid>/stat; ok is false when the process is gone.
func ReadStat(pid int) (s Stat, ok bool) {
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return Stat{}, false
	}
	// pid (comm) state ppid pgrp ...; comm may contain spaces and parentheses.
	open, end := bytes.IndexByte(raw, '('), bytes.LastIndexByte(raw, ')')
	if open < 0 || end < open {
		return Stat{}, false
	}
	fields := strings.Fields(string(raw[end+1:]))
	// fields[0] is the state (field 3 of stat); ppid field 4, pgrp field 5,
	// starttime field 22.
	if len(fields) < 20 {
		return Stat{}, false
	}
	s = Stat{Pid: pid, Comm: string(raw[open+1 : end]), State: fields[0]}
	s.PPid, _ = strconv.Atoi(fields[1])
	s.Pgid, _ = strconv.Atoi(fields[2])
	s.Session, _ = strconv.Atoi(fields[3])
	s.Start, _ = strconv.ParseUint(fields[19], 10, 64)
	return s, true
}

// Cmdline returns the process's arguments ("" once it is gone).
func Cmdline(pid int) []string {
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil || len(raw) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(raw), "\x00"), "\x00")
}

// Environ returns the process's environment as KEY=VALUE entries (nil when
// it is gone or not ours to read).
func Environ(pid int) [][]byte {
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "environ"))
	if err != nil {
		return nil
	}
	return bytes.Split(raw, []byte{0})
}

// Getenv returns the value of key in the process's environment.
func Getenv(env [][]byte, key string) (string, bool) {
	prefix := []byte(key + "=")
	for _, kv := range env {
		if v, ok := bytes.CutPrefix(kv, prefix); ok {
			return string(v), true
		}
	}
	return "", false
}

// NSpids returns the process's pid in each pid namespace it belongs to, from
// this one (first) to its own (last): one entry when it shares ours, two for
// a process in a container. Nil when the process is gone.
func NSpids(pid int) []int {
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return nil
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
			var pids []int
			for _, f := range strings.Fields(rest) {
				n, err := strconv.Atoi(f)
				if err != nil {
					return nil
				}
				pids = append(pids, n)
			}
			return pids
		}
	}
	return []int{pid} // kernels before 4.1 have no NSpid: one namespace
}

// Frozen reports whether the process is in a frozen cgroup (a paused
// container): it runs nothing, and even SIGKILL takes effect only once it is
// thawed. cgroup v1 (freezer.state) and v2 (cgroup.freeze) are read; false
// when neither can be.
func Frozen(pid int) bool {
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cgroup"))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(raw), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[1] == "freezer":
			state, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/freezer", parts[2], "freezer.state"))
			if err == nil && strings.TrimSpace(string(state)) != "THAWED" {
				return true
			}
		case parts[0] == "0" && parts[1] == "":
			state, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", parts[2], "cgroup.freeze"))
			if err == nil && strings.TrimSpace(string(state)) == "1" {
				return true
			}
		}
	}
	return false
}

// RSSKiB returns the process's resident set size in KiB (0 when unknown).
func RSSKiB(pid int) int64 {
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			fields := strings.Fields(rest)
			if len(fields) > 0 {
				n, _ := strconv.ParseInt(fields[0], 10, 64)
				return n
			}
		}
	}
	return 0
}
