// Package supervise waits, on a pool's events, for what its supervision
// does after a crash: the replacement of a worker, the pool back to size.
// isolation.SupervisionTesting (Ginkgo) and gotest.Supervise (testing)
// are its two faces. It knows no pool type: each face describes its pool
// with a Source (E is realpy.Event), so nothing here imports a public
// package.
package supervise

import (
	"context"
	"errors"
	"fmt"
)

// Source is what a Watcher needs of one pool.
type Source[E any] struct {
	Events <-chan E                // the pool's events, subscribed to before Watch
	Close  func()                  // ends the subscription
	Size   func() (have, want int) // how many workers the pool has, and should have
	// Replaced tells whether e is a replacement, of which worker and by
	// which pid.
	Replaced func(e E) (replaces string, pid int, ok bool)
}

// Worker is what KillWorker needs of a worker.
type Worker interface {
	Kill() error
	ID() string
}

// Watcher follows one pool's events from its creation on.
type Watcher[E any] struct {
	src  Source[E]
	seen []E
}

// Watch follows src; Close ends its subscription.
func Watch[E any](src Source[E]) *Watcher[E] { return &Watcher[E]{src: src} }

// Close ends the subscription.
func (w *Watcher[E]) Close() { w.src.Close() }

// KillWorker kills worker with SIGKILL, as a crash would, and returns its id.
func (w *Watcher[E]) KillWorker(worker Worker) (string, error) {
	if err := worker.Kill(); err != nil {
		return "", fmt.Errorf("kill worker %s: %w", worker.ID(), err)
	}
	return worker.ID(), nil
}

// WaitForRestart waits for the worker that replaces oldID and returns its pid.
func (w *Watcher[E]) WaitForRestart(ctx context.Context, oldID string) (int, error) {
	for _, e := range w.seen {
		if replaces, pid, ok := w.src.Replaced(e); ok && replaces == oldID {
			return pid, nil
		}
	}
	for {
		select {
		case e, ok := <-w.src.Events:
			if !ok {
				return 0, errors.New("the pool closed before worker " + oldID + " was replaced")
			}
			w.seen = append(w.seen, e)
			if replaces, pid, ok := w.src.Replaced(e); ok && replaces == oldID {
				return pid, nil
			}
		case <-ctx.Done():
			return 0, fmt.Errorf("worker %s was not replaced: %w", oldID, ctx.Err())
		}
	}
}

// BackToSize waits until the pool has all its workers again.
func (w *Watcher[E]) BackToSize(ctx context.Context) error {
	for have, want := w.src.Size(); have < want; have, want = w.src.Size() {
		select {
		case e, ok := <-w.src.Events:
			if !ok {
				return errors.New("the pool closed before it was back to size")
			}
			w.seen = append(w.seen, e)
		case <-ctx.Done():
			have, want := w.src.Size()
			return fmt.Errorf("pool has %d of %d workers: %w", have, want, ctx.Err())
		}
	}
	return nil
}
