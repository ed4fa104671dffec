// Pool: the session routes (the table itself is in sessions.go).

package realpy

import (
	"context"

	"github.com/pyharness/pyharness/wire"
)

// forgetLocked drops the sessions routed to m.
func (p *Pool) forgetLocked(m *member) { p.sessions.forget(m) }

// sweepLocked drops the routes of sessions idle for WithSessionTTL, at most
// once per quarter of it, so the table holds only live sessions.
func (p *Pool) sweepLocked() {
	now := p.cfg.clock.Now()
	if p.cfg.sessionTTL <= 0 || now.Sub(p.swept) < p.cfg.sessionTTL/4 {
		return
	}
	p.swept = now
	p.sessions.expire(now, p.cfg.sessionTTL)
}

// Sessions returns how many sessions the pool routes now: at most
// WithMaxSessions.
func (p *Pool) Sessions() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sessions.len()
}

// EndSession ends a session: the reset built-in clears its state on the
// worker that served it, and the pool forgets the route. Sessions that are
// never ended expire after WithSessionTTL of idleness (their state in the
// worker stays until reset or the worker ends).
func (p *Pool) EndSession(ctx context.Context, session string) error {
	p.mu.Lock()
	_, routed := p.sessions.get(session)
	p.mu.Unlock()
	var err error
	if routed {
		err = p.Call(wire.WithSession(ctx, session), "reset", map[string]string{"session": session}, nil)
	}
	p.mu.Lock()
	p.sessions.remove(session)
	p.mu.Unlock()
	return err
}
