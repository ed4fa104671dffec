package isolation

import (
	"context"
	"errors"
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/realpy"
)

// SupervisionTestingMode kills workers and waits for the pool to heal, on events.
//
// Sets up: a subscription to the pool's events. Tears down: closes it.
// WaitForRestart and BackToSize return an error when their context ends
// first: a restart that does not happen fails the spec, never silently.
type SupervisionTestingMode struct {
	pool func() *realpy.Pool
	sub  *realpy.Subscription
	seen []realpy.Event
}

// SupervisionTesting registers the supervision mode.
func SupervisionTesting(pool func() *realpy.Pool) *SupervisionTestingMode {
	m := &SupervisionTestingMode{pool: pool}
	BeforeEach(func() {
		m.seen = nil
		m.sub = m.pool().Subscribe()
		DeferCleanup(func() { m.sub.Close() })
	})
	return m
}

// KillWorker kills w with SIGKILL, as a crash would, and returns its id.
func (m *SupervisionTestingMode) KillWorker(w *realpy.Worker) string {
	GinkgoHelper()
	Expect(w.Kill()).To(Succeed())
	return w.ID()
}

// WaitForRestart waits for the worker that replaces oldID and returns its pid.
func (m *SupervisionTestingMode) WaitForRestart(ctx context.Context, oldID string) (int, error) {
	for _, e := range m.seen {
		if e.Kind == realpy.EventReplaced && e.Replaces == oldID {
			return e.Pid, nil
		}
	}
	for {
		select {
		case e, ok := <-m.sub.C:
			if !ok {
				return 0, errors.New("isolation: the pool closed before worker " + oldID + " was replaced")
			}
			m.seen = append(m.seen, e)
			if e.Kind == realpy.EventReplaced && e.Replaces == oldID {
				return e.Pid, nil
			}
		case <-ctx.Done():
			return 0, fmt.Errorf("isolation: worker %s was not replaced: %w", oldID, ctx.Err())
		}
	}
}

// BackToSize waits until the pool has all its workers again.
func (m *SupervisionTestingMode) BackToSize(ctx context.Context) error {
	p := m.pool()
	for p.Stats().Size < p.Size() {
		select {
		case e, ok := <-m.sub.C:
			if !ok {
				return errors.New("isolation: the pool closed before it was back to size")
			}
			m.seen = append(m.seen, e)
		case <-ctx.Done():
			return fmt.Errorf("isolation: pool has %d of %d workers: %w", p.Stats().Size, p.Size(), ctx.Err())
		}
	}
	return nil
}
