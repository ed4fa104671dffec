package realpy

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/pyharness/pyharness/wire"
)

// The circuit breaker is hand-written rather than github.com/sony/gobreaker:
// gobreaker reads time.Now directly, so the open -> half-open transition
// cannot be driven by a fake clock, and specs would have to wait out real
// time. This one takes a clockwork.Clock (WithClock).

// BreakerState is the state of a pool's circuit breaker.
type BreakerState string

const (
	BreakerClosed   BreakerState = "closed"    // calls flow
	BreakerOpen     BreakerState = "open"      // calls fail fast with ErrBreakerOpen
	BreakerHalfOpen BreakerState = "half-open" // a few trial calls decide
)

// BreakerSettings configure WithBreaker.
type BreakerSettings struct {
	// Failures is how many consecutive infrastructure failures open the breaker.
	Failures int
	// OpenFor is how long it stays open before letting trial calls through.
	OpenFor time.Duration
	// HalfOpenCalls is how many trial calls may run at once when half-open
	// (default 1); one success closes the breaker, one failure reopens it.
	HalfOpenCalls int
}

// infrastructureFailure reports whether err says the interpreter failed
// (crash, hang, protocol violation) rather than the handler answering: a
// Python exception, an unknown method or an unserialisable result is the
// handler's answer and does not count against the breaker. A pool's breaker
// judges only calls that reached a worker: a caller that gave up waiting for
// one (its deadline, a cancellation, WithCheckoutTimeout) counts neither way.
func infrastructureFailure(err error) bool {
	return errors.Is(err, wire.ErrWorkerExited) ||
		errors.Is(err, wire.ErrProtocol) ||
		errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, errCheckout)
}

type breaker struct {
	s     BreakerSettings
	clock clockwork.Clock

	mu       sync.Mutex
	state    BreakerState
	failures int
	openedAt time.Time
	trials   int
}

func newBreaker(s BreakerSettings, clock clockwork.Clock) *breaker {
	if s.HalfOpenCalls <= 0 {
		s.HalfOpenCalls = 1
	}
	return &breaker{s: s, clock: clock, state: BreakerClosed}
}

// allow says whether a call may go ahead; trial reports a half-open trial.
func (b *breaker) allow() (trial bool, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == BreakerOpen && b.clock.Since(b.openedAt) >= b.s.OpenFor {
		b.state, b.trials = BreakerHalfOpen, 0
	}
	switch b.state {
	case BreakerOpen:
		return false, fmt.Errorf("%w after %d consecutive failures; retrying in %v", ErrBreakerOpen, b.failures, b.s.OpenFor-b.clock.Since(b.openedAt))
	case BreakerHalfOpen:
		if b.trials >= b.s.HalfOpenCalls {
			return false, fmt.Errorf("%w: half-open, %d trial calls in flight", ErrBreakerOpen, b.trials)
		}
		b.trials++
		return true, nil
	}
	return false, nil
}

func (b *breaker) record(trial bool, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	failed := infrastructureFailure(err)
	if trial {
		b.trials--
	}
	switch {
	case b.state == BreakerHalfOpen && failed:
		b.state, b.openedAt = BreakerOpen, b.clock.Now()
	case b.state == BreakerHalfOpen && trial:
		b.state, b.failures = BreakerClosed, 0
	case failed:
		b.failures++
		if b.state == BreakerClosed && b.failures >= b.s.Failures {
			b.state, b.openedAt = BreakerOpen, b.clock.Now()
		}
	case err == nil || !failed:
		if b.state == BreakerClosed {
			b.failures = 0
		}
	}
}

// abandon gives back a call that never reached a worker: it counts neither
// way, and a half-open trial slot is freed.
func (b *breaker) abandon(trial bool) {
	if !trial {
		return
	}
	b.mu.Lock()
	b.trials--
	b.mu.Unlock()
}

func (b *breaker) current() BreakerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == BreakerOpen && b.clock.Since(b.openedAt) >= b.s.OpenFor {
		return BreakerHalfOpen
	}
	return b.state
}
