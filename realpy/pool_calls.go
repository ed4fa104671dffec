// Pool: calls and streams through a checked-out member, retries and the breaker.

package realpy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/pyharness/pyharness/wire"
)

// Stream runs method as a stream (Worker.Stream) on a free worker, which
// stays checked out until the stream ends.
func (p *Pool) Stream(ctx context.Context, method string, args any) iter.Seq2[json.RawMessage, error] {
	return func(yield func(json.RawMessage, error) bool) {
		start := time.Now()
		m, err := p.checkout(ctx, wire.SessionFrom(ctx))
		if err != nil {
			yield(nil, p.callError(ctx, ctx, method, start, err))
			return
		}
		defer p.checkinSettled(m)
		for item, err := range m.w.Stream(ctx, method, args) {
			if !yield(item, err) {
				return
			}
		}
	}
}

// Call runs method on a free worker; calls carrying a session id
// (wire.WithSession) follow the pool's affinity. Errors are those of
// Worker.Call, plus ErrBreakerOpen, ErrSessionBusy, ErrPoolExhausted
// (*CheckoutTimeoutError) and wire.ErrClosed; a call its context or
// WithCallTimeout ends, even while it waits for a worker, is a *CallError. With WithRetry, calls that
// fail because their worker died are retried on another worker.
func (p *Pool) Call(ctx context.Context, method string, args, reply any) error {
	callerCtx, start := ctx, time.Now()
	if p.cfg.callTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.cfg.callTimeout)
		defer cancel()
	}
	var b *backoff.ExponentialBackOff
	for attempt := 0; ; attempt++ {
		err := p.callOnce(ctx, method, args, reply)
		if err == nil || attempt >= p.cfg.retries || !errors.Is(err, wire.ErrWorkerExited) || ctx.Err() != nil {
			return p.callError(callerCtx, ctx, method, start, err)
		}
		if b == nil {
			b = backoff.NewExponentialBackOff()
			b.InitialInterval, b.RandomizationFactor = p.cfg.retryDelay, 0
		}
		select {
		case <-p.cfg.clock.After(b.NextBackOff()):
		case <-ctx.Done():
			return p.callError(callerCtx, ctx, method, start, &stagedErr{err: ctx.Err(),
				stage: fmt.Sprintf("waiting to retry it (attempt %d of %d) after its worker exited: %v", attempt+2, p.cfg.retries+1, err)})
		}
	}
}

// callError is err as the pool's caller gets it: a call its context (or
// WithCallTimeout) ended is a *CallError timed from start, naming what set
// the deadline; other errors are returned as they are.
func (p *Pool) callError(callerCtx, ctx context.Context, method string, start time.Time, err error) error {
	if err == nil || ctx.Err() == nil {
		return err
	}
	var ce *CallError
	if !errors.As(err, &ce) {
		if ce = newCallError(ctx, method, "", start, err); ce == nil {
			return err
		}
	} else {
		c := *ce // the worker's, timed from the worker's call: time it from the pool's
		ce = &c
		ce.Took = time.Since(start)
		if d, ok := ctx.Deadline(); ok && ce.Err == context.DeadlineExceeded {
			ce.Limit = d.Sub(start)
		}
	}
	if callerCtx.Err() == nil && p.cfg.callTimeout > 0 { // the pool's own bound ended it, not the caller's context
		ce.By = fmt.Sprintf("the pool's WithCallTimeout(%v)", p.cfg.callTimeout)
	}
	return ce
}

func (p *Pool) callOnce(ctx context.Context, method string, args, reply any) error {
	var trial bool
	if p.circuit != nil {
		var err error
		if trial, err = p.circuit.allow(); err != nil {
			return err
		}
	}
	m, err := p.checkout(ctx, wire.SessionFrom(ctx))
	if err != nil {
		// No worker was reached: the caller's own deadline, cancellation or
		// checkout bound says nothing about the workers' health.
		if p.circuit != nil {
			p.circuit.abandon(trial)
		}
		return err
	}
	err = m.w.Call(ctx, method, args, reply)
	p.checkinSettled(m)
	if p.circuit != nil {
		p.circuit.record(trial, err)
	}
	return err
}
