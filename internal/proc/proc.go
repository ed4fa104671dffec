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
	"syscall"
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
// A leak check reads it for every process on the machine, on each spec's
// start and check: one open, one read into a buffer on the stack and one
// close, where os.ReadFile would stat the file twice and allocate.
func ReadStat(pid int) (s Stat, ok bool) {
	var buf [2048]byte // comm is at most 16 bytes, and the 50-odd numbers fit many times over
	raw, err := readSmall("/proc/"+strconv.Itoa(pid)+"/stat", buf[:])
	if err != nil {
		return Stat{}, false
	}
	// pid (comm) state ppid pgrp ...; comm may contain spaces and parentheses.
	open, end := bytes.IndexByte(raw, '('), bytes.LastIndexByte(raw, ')')
	if open < 0 || end < open {
		return Stat{}, false
	}
	// fields[0] is the state (field 3 of stat); ppid field 4, pgrp field 5,
	// session field 6, starttime field 22.
	var fields [20][]byte
	n := 0
	for rest := raw[end+1:]; n < len(fields); n++ {
		rest = bytes.TrimLeft(rest, " \n")
		if len(rest) == 0 {
			break
		}
		i := bytes.IndexAny(rest, " \n")
		if i < 0 {
			i = len(rest)
		}
		fields[n], rest = rest[:i], rest[i:]
	}
	if n < len(fields) {
		return Stat{}, false
	}
	s = Stat{Pid: pid, Comm: string(raw[open+1 : end]), State: string(fields[0])}
	s.PPid, _ = strconv.Atoi(string(fields[1]))
	s.Pgid, _ = strconv.Atoi(string(fields[2]))
	s.Session, _ = strconv.Atoi(string(fields[3]))
	s.Start, _ = strconv.ParseUint(string(fields[19]), 10, 64)
	return s, true
}

// readSmall reads the file at path whole into buf (os.ReadFile when it
// does not fit) and returns what it read.
func readSmall(path string, buf []byte) ([]byte, error) {
	fd, err := openRead(path)
	if err != nil {
		return nil, err
	}
	defer syscall.Close(fd)
	n := 0
	for n < len(buf) {
		m, err := syscall.Read(fd, buf[n:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if m == 0 {
			return buf[:n], nil
		}
		n += m
	}
	return os.ReadFile(path)
}

func openRead(path string) (int, error) {
	for {
		fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			return fd, err
		}
	}
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
