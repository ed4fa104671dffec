package isolation

import (
	"context"
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/internal/realpyx"
	"github.com/pyharness/pyharness/internal/supervise"
	"github.com/pyharness/pyharness/realpy"
)

// SupervisionTestingMode kills workers and waits for the pool to heal, on events.
//
// Sets up: a subscription to the pool's events. Tears down: closes it.
// WaitForRestart and BackToSize return an error when their context ends
// first: a restart that does not happen fails the spec, never silently.
type SupervisionTestingMode struct {
	pool    func() *realpy.Pool
	watcher *supervise.Watcher[realpy.Event]
}

// SupervisionTesting registers the supervision mode.
func SupervisionTesting(pool func() *realpy.Pool) *SupervisionTestingMode {
	m := &SupervisionTestingMode{pool: pool}
	BeforeEach(func() {
		m.watcher = realpyx.WatchPool[*realpy.Pool, realpy.Event](m.pool())
		DeferCleanup(m.watcher.Close)
	})
	return m
}

// KillWorker kills w with SIGKILL, as a crash would, and returns its id.
func (m *SupervisionTestingMode) KillWorker(w *realpy.Worker) string {
	GinkgoHelper()
	id, err := m.watcher.KillWorker(w)
	Expect(err).NotTo(HaveOccurred())
	return id
}

// WaitForRestart waits for the worker that replaces oldID and returns its pid.
func (m *SupervisionTestingMode) WaitForRestart(ctx context.Context, oldID string) (int, error) {
	pid, err := m.watcher.WaitForRestart(ctx, oldID)
	if err != nil {
		return 0, fmt.Errorf("isolation: %w", err)
	}
	return pid, nil
}

// BackToSize waits until the pool has all its workers again.
func (m *SupervisionTestingMode) BackToSize(ctx context.Context) error {
	if err := m.watcher.BackToSize(ctx); err != nil {
		return fmt.Errorf("isolation: %w", err)
	}
	return nil
}
