package gotest

import (
	"context"
	"fmt"
	"testing"

	"github.com/pyharness/pyharness/internal/realpyx"
	"github.com/pyharness/pyharness/internal/supervise"
	"github.com/pyharness/pyharness/realpy"
)

// Supervisor kills a pool's workers and waits, on the pool's events, for
// its supervision to heal it.
type Supervisor struct {
	t testing.TB
	w *supervise.Watcher[realpy.Event]
}

// Supervise follows p's events from now until t ends.
func Supervise(t testing.TB, p *realpy.Pool) *Supervisor {
	t.Helper()
	w := realpyx.WatchPool[*realpy.Pool, realpy.Event](p)
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
