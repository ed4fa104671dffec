package gotest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pyharness/pyharness"
	"github.com/pyharness/pyharness/internal/supervise"
	"github.com/pyharness/pyharness/isolation/leak"
	"github.com/pyharness/pyharness/realpy"
)

// forbidParallel makes the testing package refuse t.Parallel for t (and
// fail it if it already ran in parallel): a check that compares the whole
// process before and after a test cannot tell a parallel test's goroutines,
// processes or environment from t's own.
func forbidParallel(t testing.TB, check string) {
	t.Helper()
	t.Setenv("PYHARNESS_GOTEST_CHECK", check)
}

// NoLeaks fails t when a goroutine or a Python process started during t is
// still there once t and its cleanups are done (the cleanups registered
// before NoLeaks run after its check: call it first). Not with t.Parallel:
// the testing package refuses it, as a check of the whole process cannot
// tell another test's goroutines from t's.
func NoLeaks(t testing.TB, ignore ...goleak.Option) {
	t.Helper()
	forbidParallel(t, "NoLeaks")
	baseline := goleak.IgnoreCurrent()
	before, err := leak.OwnedProcesses()
	if err != nil {
		t.Fatalf("pyharness: %v", err)
	}
	t.Cleanup(func() {
		after, err := leak.OwnedProcesses()
		if err != nil {
			t.Errorf("pyharness: %v", err)
		} else if left := leak.NewProcesses(before, after); len(left) > 0 {
			t.Errorf("pyharness: processes left by %s:\n\t%s", t.Name(), joinProcesses(left))
		}
		if err := leak.FindLeakedGoroutines(baseline, ignore...); err != nil {
			t.Errorf("pyharness: goroutines left by %s:\n%v", t.Name(), err)
		}
	})
}

func joinProcesses(ps []leak.Process) string {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.String()
	}
	return strings.Join(names, "\n\t")
}

// DetectContamination snapshots everything t could leave behind and fails
// t with a readable diff of what changed when it ends: goroutines,
// processes started through pyharness, open file descriptors, files in t's
// temp dir, environment variables, and, when worker is not nil, the
// worker's Python state (new modules, changed module globals). t gets a
// private TMPDIR. Not with t.Parallel (the testing package refuses it, as
// for t.Setenv).
func DetectContamination(t testing.TB, worker pyharness.Caller, opts ...leak.SnapshotOption) {
	t.Helper()
	forbidParallel(t, "DetectContamination")
	tmp, err := os.MkdirTemp("", "pyharness-test-")
	if err != nil {
		t.Fatalf("pyharness: %v", err)
	}
	all := append([]leak.SnapshotOption{leak.WithTempDirs(tmp), leak.IgnoreEnv("TMPDIR", "PYHARNESS_GOTEST_CHECK")}, opts...)
	if worker != nil {
		all = append(all, leak.WithPython(worker))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	before, err := leak.Take(ctx, all...)
	if err != nil {
		os.RemoveAll(tmp)
		t.Fatalf("pyharness: snapshot before %s: %v", t.Name(), err)
	}
	t.Setenv("TMPDIR", tmp) // restored by testing after the cleanup below
	t.Cleanup(func() {
		defer os.RemoveAll(tmp)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		after, err := leak.Take(ctx, all...)
		if err != nil {
			t.Errorf("pyharness: snapshot after %s: %v", t.Name(), err)
			return
		}
		if err := before.Diff(after).Err(); err != nil {
			t.Errorf("pyharness: %s: %v", t.Name(), err)
		}
	})
}

// Supervisor kills a pool's workers and waits, on the pool's events, for
// its supervision to heal it.
type Supervisor struct {
	t testing.TB
	w *supervise.Watcher
}

// Supervise follows p's events from now until t ends.
func Supervise(t testing.TB, p *realpy.Pool) *Supervisor {
	t.Helper()
	w := supervise.Watch(p)
	t.Cleanup(w.Close)
	return &Supervisor{t: t, w: w}
}

// KillWorker kills w with SIGKILL, as a crash would, and returns its id; it
// fails the test if the signal cannot be sent.
func (s *Supervisor) KillWorker(w *realpy.Worker) string {
	s.t.Helper()
	id, err := s.w.KillWorker(w)
	if err != nil {
		s.t.Fatalf("pyharness: %v", err)
	}
	return id
}

// WaitForRestart waits for the worker that replaces oldID and returns its
// pid; an error when ctx ends first.
func (s *Supervisor) WaitForRestart(ctx context.Context, oldID string) (int, error) {
	pid, err := s.w.WaitForRestart(ctx, oldID)
	if err != nil {
		return 0, fmt.Errorf("pyharness: %w", err)
	}
	return pid, nil
}

// BackToSize waits until the pool has all its workers again; an error when
// ctx ends first.
func (s *Supervisor) BackToSize(ctx context.Context) error {
	if err := s.w.BackToSize(ctx); err != nil {
		return fmt.Errorf("pyharness: %w", err)
	}
	return nil
}
