package mockpy

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/pyharness/pyharness/wire"
)

// WithConcurrency makes the mock serve calls as a worker started with
// realpy.WithConcurrency(n) does: at most n calls run at once (their
// handlers overlap, on the mock's clock too: two handlers that each Delay
// 100 ms both end 100 ms later), later ones wait their turn in the order
// they came (and give up when their context ends, never reaching a
// handler), a ping is answered at once whatever runs, and the wire fake
// (Serve) lists "multiplex" in ping's features with "concurrency": n, so
// realpy's client keeps up to n requests in flight on one connection,
// answered in the order they finish. n = 1 is a worker that serves one call
// at a time. Without WithConcurrency the mock bounds nothing, as before:
// concurrent calls on it all run at once, and its wire fake serves one
// request at a time.
//
// Whatever the option, a mock that dies (a crash, a killed hang, Kill)
// fails every call still running with its exit error, as a worker's death
// fails each call in flight on it; cancelling one call's context cancels
// that call only.
func WithConcurrency(n int) Option {
	return func(m *Interpreter) {
		if n < 1 {
			n = 1
		}
		m.limit = n
	}
}

// multiplex reports whether the mock answers many calls at once, in any
// order: WithConcurrency above 1.
func (m *Interpreter) multiplex() bool { return m.limit > 1 }

// exempt reports whether a call of method skips the queue: a multiplexing
// worker answers pings whatever runs.
func (m *Interpreter) exempt(method string) bool { return m.multiplex() && method == "ping" }

// acquire waits for a turn to run a call: at once without a limit, else
// when fewer than the limit run and nobody waits before it. It returns the
// context's error when that ends first, or the mock's end (its exit error,
// ErrClosed) when it dies or is closed meanwhile.
func (m *Interpreter) acquire(ctx context.Context, method string) error {
	m.mu.Lock()
	if m.limit <= 0 || m.exempt(method) {
		m.mu.Unlock()
		return nil
	}
	if m.running < m.limit && len(m.waiting) == 0 {
		m.running++
		m.mu.Unlock()
		return nil
	}
	turn := make(chan struct{})
	m.waiting = append(m.waiting, turn)
	ended := m.ended
	m.mu.Unlock()
	var err error
	select {
	case <-turn:
		return nil
	case <-ctx.Done():
		err = &queuedError{err: ctx.Err()}
	case <-ended:
		m.mu.Lock()
		err = m.dead
		m.mu.Unlock()
		if err == nil {
			err = wire.ErrClosed
		}
	}
	m.mu.Lock()
	if i := slices.Index(m.waiting, turn); i >= 0 {
		m.waiting = slices.Delete(m.waiting, i, i+1)
		m.mu.Unlock()
		return err
	}
	m.mu.Unlock()
	m.release(method) // the turn came as the wait ended: pass it on
	return err
}

// release ends a call's turn: the first waiting call runs next.
func (m *Interpreter) release(method string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.limit <= 0 || m.exempt(method) {
		return
	}
	if len(m.waiting) > 0 {
		turn := m.waiting[0]
		m.waiting = m.waiting[1:]
		close(turn)
		return
	}
	m.running--
}

// queuedError is a call whose context ended while it waited its turn: it
// never reached a handler, and the mock lives on.
type queuedError struct{ err error }

func (e *queuedError) Error() string {
	return e.err.Error() + " (waiting for its turn: the mock was serving as many calls as WithConcurrency allows)"
}
func (e *queuedError) Unwrap() error { return e.err }

// peerDeath is the cause with which a dying mock cancels the calls still
// running: they fail with its exit error.
type peerDeath struct{ err error }

func (e *peerDeath) Error() string { return "the worker died: " + e.err.Error() }
func (e *peerDeath) Unwrap() error { return e.err }

// diedMeanwhile returns the mock's exit error when another call (or Kill)
// killed it while the call of ctx ran.
func diedMeanwhile(ctx context.Context) error {
	var pd *peerDeath
	if errors.As(context.Cause(ctx), &pd) {
		return pd.err
	}
	return nil
}

// now is the mock's clock's time.
func (m *Interpreter) now() time.Time { return m.clock.Now() }
