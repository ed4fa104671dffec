// Package supervise waits, on a pool's events, for what its supervision
// does after a crash: the replacement of a worker, the pool back to size.
// isolation.SupervisionTesting (Ginkgo) and gotest.Supervise (testing)
// are its two faces.
package supervise

import (
	"context"
	"errors"
	"fmt"

	"github.com/pyharness/pyharness/realpy"
)

// Watcher follows one pool's events from its creation on.
type Watcher struct {
	pool *realpy.Pool
	sub  *realpy.Subscription
	seen []realpy.Event
}

// Watch subscribes to p's events; Close ends the subscription.
func Watch(p *realpy.Pool) *Watcher { return &Watcher{pool: p, sub: p.Subscribe()} }

// Close ends the subscription.
func (w *Watcher) Close() { w.sub.Close() }

// KillWorker kills worker with SIGKILL, as a crash would, and returns its id.
func (w *Watcher) KillWorker(worker *realpy.Worker) (string, error) {
	if err := worker.Kill(); err != nil {
		return "", fmt.Errorf("kill worker %s: %w", worker.ID(), err)
	}
	return worker.ID(), nil
}

// WaitForRestart waits for the worker that replaces oldID and returns its pid.
func (w *Watcher) WaitForRestart(ctx context.Context, oldID string) (int, error) {
	for _, e := range w.seen {
		if e.Kind == realpy.EventReplaced && e.Replaces == oldID {
			return e.Pid, nil
		}
	}
	for {
		select {
		case e, ok := <-w.sub.C:
			if !ok {
				return 0, errors.New("the pool closed before worker " + oldID + " was replaced")
			}
			w.seen = append(w.seen, e)
			if e.Kind == realpy.EventReplaced && e.Replaces == oldID {
				return e.Pid, nil
			}
		case <-ctx.Done():
			return 0, fmt.Errorf("worker %s was not replaced: %w", oldID, ctx.Err())
		}
	}
}

// BackToSize waits until the pool has all its workers again.
func (w *Watcher) BackToSize(ctx context.Context) error {
	for w.pool.Stats().Size < w.pool.Size() {
		select {
		case e, ok := <-w.sub.C:
			if !ok {
				return errors.New("the pool closed before it was back to size")
			}
			w.seen = append(w.seen, e)
		case <-ctx.Done():
			return fmt.Errorf("pool has %d of %d workers: %w", w.pool.Stats().Size, w.pool.Size(), ctx.Err())
		}
	}
	return nil
}
