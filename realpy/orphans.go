package realpy

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// NewRunID returns a fresh run id. Every interpreter of a pool carries its
// run id (PYHARNESS_RUN_ID in its environment, --run-id in its argv) and its
// owner's pid (PYHARNESS_OWNER_PID), which is how ReapOrphans finds the
// interpreters of runs whose owner died.
func NewRunID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "run-" + hex.EncodeToString(b[:])
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
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("realpy: find orphans: %w", err)
	}
	runKey, ownerKey := []byte(EnvRunID+"="), []byte(EnvOwnerPid+"=")
	var found []Orphan
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !bytes.Contains(env, runKey) {
			continue
		}
		vars := map[string]string{}
		for _, kv := range bytes.Split(env, []byte{0}) {
			if bytes.HasPrefix(kv, runKey) || bytes.HasPrefix(kv, ownerKey) {
				k, v, _ := strings.Cut(string(kv), "=")
				vars[k] = v
			}
		}
		owner, err := strconv.Atoi(vars[EnvOwnerPid])
		if err != nil || vars[EnvRunID] == "" {
			continue
		}
		start, pgid, ok := procStart(pid)
		if !ok || ownerAlive(owner, start) {
			continue
		}
		found = append(found, Orphan{Pid: pid, Pgid: pgid, Owner: owner, RunID: vars[EnvRunID]})
	}
	return found, nil
}

// ProcessStartTime returns when a live process started, in clock ticks since
// boot; with its pid it names a process even after the pid is reused.
func ProcessStartTime(pid int) (uint64, bool) {
	start, _, ok := procStart(pid)
	return start, ok
}

// ownerAlive reports whether owner still runs and is the process that
// started a child at childStart (a pid reused by a newer process is not).
func ownerAlive(owner int, childStart uint64) bool {
	start, _, ok := procStart(owner)
	return ok && start <= childStart
}

// procStart returns a process's start time (clock ticks since boot) and group.
func procStart(pid int) (start uint64, pgid int, ok bool) {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, 0, false
	}
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, 0, false
	}
	fields := strings.Fields(string(stat[end+1:]))
	// fields[0] is state (field 3); pgrp is field 5, starttime field 22.
	if len(fields) < 20 || fields[0] == "Z" {
		return 0, 0, false
	}
	pgid, _ = strconv.Atoi(fields[2])
	start, err = strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return start, pgid, true
}
