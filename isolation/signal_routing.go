package isolation

import (
	"context"
	"fmt"
	"sync"

	. "github.com/onsi/ginkgo/v2"

	"github.com/pyharness/pyharness/realpy"
)

// SignalRoutingMode is a per-spec event bus for a pool's lifecycle events.
//
// Sets up: a subscription opened when the spec starts. Routes: only events
// of workers the spec watches (Watch) and of the workers that replace them,
// so events caused by other specs never reach it. Tears down: closes it.
type SignalRoutingMode struct {
	pool    func() *realpy.Pool
	sub     *realpy.Subscription
	mu      sync.Mutex
	watched map[string]bool
	events  chan realpy.Event
	done    chan struct{}
}

// SignalRouting registers the signal-routing mode for the pool pool returns.
func SignalRouting(pool func() *realpy.Pool) *SignalRoutingMode {
	m := &SignalRoutingMode{pool: pool}
	BeforeEach(func() {
		m.watched = map[string]bool{}
		m.events = make(chan realpy.Event, 1024)
		m.done = make(chan struct{})
		m.sub = m.pool().Subscribe()
		go m.route(m.sub, m.events, m.done)
		DeferCleanup(func() {
			m.sub.Close()
			<-m.done
		})
	})
	return m
}

func (m *SignalRoutingMode) route(sub *realpy.Subscription, out chan<- realpy.Event, done chan struct{}) {
	defer close(done)
	for e := range sub.C {
		m.mu.Lock()
		mine := m.watched[e.WorkerID] || (e.Replaces != "" && m.watched[e.Replaces])
		if mine && e.Replaces != "" && e.WorkerID != "" {
			m.watched[e.WorkerID] = true // follow the replacement
		}
		m.mu.Unlock()
		if mine {
			select {
			case out <- e:
			default: // a spec that never reads its events does not block routing
			}
		}
	}
}

// Watch routes the events of w (and of its replacements) to this spec.
func (m *SignalRoutingMode) Watch(w *realpy.Worker) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.watched[w.ID()] = true
}

// Events delivers this spec's events.
func (m *SignalRoutingMode) Events() <-chan realpy.Event { return m.events }

// Next waits for this spec's next event of kind; its time-out is an error.
func (m *SignalRoutingMode) Next(ctx context.Context, kind realpy.EventKind) (realpy.Event, error) {
	for {
		select {
		case e := <-m.events:
			if e.Kind == kind {
				return e, nil
			}
		case <-ctx.Done():
			return realpy.Event{}, fmt.Errorf("isolation: no %s event for this spec: %w", kind, ctx.Err())
		}
	}
}
