// Pool: the checkout queue: fair hand-off of idle members to waiters, growth, check-in.

package realpy

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pyharness/pyharness/wire"
)

// notifyLocked wakes every waiting checkout to look at the pool again: it
// closed, a start failed, there is room to start a worker. A worker that
// frees up is handed to one waiter instead (offerLocked).
func (p *Pool) notifyLocked() {
	for _, w := range p.queue {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// waiter is a checkout waiting for a worker.
type waiter struct {
	session string
	handed  chan *member  // a worker handed over, busy (buffered)
	wake    chan struct{} // the pool changed (buffered)
	failed  error         // the lazy start made for this waiter failed (set by growOne, which dequeues it)
}

// waiters recycles waiters: a call that waits for a worker in steady state
// allocates nothing.
var waiters = sync.Pool{New: func() any {
	return &waiter{handed: make(chan *member, 1), wake: make(chan struct{}, 1)}
}}

// recycleWaiter puts back a waiter off the queue: nothing sends to it any
// more (offerLocked, notifyLocked and growOne send only to queued waiters,
// under p.mu); a wake-up nobody took is dropped.
func (p *Pool) recycleWaiter(w *waiter) {
	select {
	case <-w.wake:
	default:
	}
	select {
	case m := <-w.handed: // never: every return that was handed a worker took it; were it there, it is not lost
		p.mu.Lock()
		m.calls--
		p.offerLocked(m)
		p.mu.Unlock()
	default:
	}
	w.session, w.failed = "", nil
	waiters.Put(w)
}

// offerLocked hands the free places of member m (one, or up to its
// capacity with WithConcurrency) to the first waiters that may take them
// and reports whether one did. Waiters are served in arrival order; a
// waiter whose session is bound to another worker under
// AffinityStrictQueue, or to one ending a cancelled call, waits for that one.
func (p *Pool) offerLocked(m *member) bool {
	handed := false
	for p.offerOneLocked(m) {
		handed = true
	}
	return handed
}

func (p *Pool) offerOneLocked(m *member) bool {
	if m.full() || m.w.Err() != nil {
		return false
	}
	for i, w := range p.queue {
		if w.session != "" {
			if r, ok := p.sessions.get(w.session); ok && r.m != m && r.m.w.Err() == nil && (p.cfg.affinity == AffinityStrictQueue || r.m.settling) {
				continue
			}
		}
		m.calls++
		if w.session != "" {
			if r, ok := p.sessions.get(w.session); !ok || r.m.w.Err() != nil || p.cfg.affinity == AffinityHint && r.m != m && r.m.full() {
				p.sessions.put(w.session, m, p.cfg.clock.Now())
			} else if r.m == m {
				p.sessions.touch(r, p.cfg.clock.Now())
			}
		}
		p.queue = slices.Delete(p.queue, i, i+1)
		w.handed <- m
		return true
	}
	return false
}

// dequeueLocked removes w from the queue, if it is there (nil: nothing to do).
func (p *Pool) dequeueLocked(w *waiter) {
	if w == nil {
		return
	}
	if i := slices.Index(p.queue, w); i >= 0 {
		p.queue = slices.Delete(p.queue, i, i+1)
	}
}

// Waiting returns how many calls wait for a worker now.
func (p *Pool) Waiting() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.queue)
}

func (p *Pool) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// checkout returns a free worker for session, waiting for one otherwise
// (bounded by ctx and WithCheckoutTimeout). A lazy pool below its size
// starts workers for the waiting calls (growLocked); overflow lets a call
// start one of its own.
func (p *Pool) checkout(ctx context.Context, session string) (*member, error) {
	var deadline <-chan time.Time
	start := time.Now()
	if p.cfg.checkoutTimeout > 0 {
		timer := time.NewTimer(p.cfg.checkoutTimeout)
		defer timer.Stop()
		deadline = timer.C
	}
	var w *waiter // taken once this call has to wait: a free worker costs nothing
	defer func() {
		if w != nil {
			p.recycleWaiter(w) // every return below has taken it off the queue first
		}
	}()
	for {
		p.mu.Lock()
		if w != nil {
			select {
			case m := <-w.handed: // handed over while we were woken for something else
				p.mu.Unlock()
				return m, nil
			default:
			}
			if err := w.failed; err != nil { // the start made for us failed (growOne dequeued us)
				p.mu.Unlock()
				return nil, err
			}
		}
		if p.closed {
			p.dequeueLocked(w)
			p.mu.Unlock()
			return nil, wire.ErrClosed
		}
		// A free worker now is one no earlier waiter may take: taking it
		// jumps no queue.
		if m, err := p.pickLocked(session); m != nil || err != nil {
			p.dequeueLocked(w)
			p.mu.Unlock()
			return m, err
		}
		full := !p.cfg.lazy || p.slotsLocked() >= p.cfg.size // no lazy growth to wait for
		if err := p.startErr; err != nil && !p.anyLiveLocked() && full {
			p.dequeueLocked(w)
			p.mu.Unlock()
			return nil, &NoWorkerError{Size: p.cfg.size, Err: err}
		}
		if p.overflows < p.cfg.overflow && full {
			p.overflows++
			p.starting++
			p.dequeueLocked(w)
			p.mu.Unlock()
			m, err := p.grow(ctx, true)
			if m != nil || err != nil {
				return m, err
			}
			continue
		}
		if w == nil {
			w = waiters.Get().(*waiter)
			w.session = session
		}
		if !slices.Contains(p.queue, w) {
			p.queue = append(p.queue, w)
			p.growLocked() // a lazy pool below its size starts a worker for the queue
		}
		if err := p.startErr; err != nil && !p.anyLiveLocked() && p.cfg.lazy && p.growing == 0 { // the start made for the queue failed
			p.dequeueLocked(w)
			p.mu.Unlock()
			return nil, &NoWorkerError{Size: p.cfg.size, Err: err}
		}
		p.mu.Unlock()
		var err error
		select {
		case m := <-w.handed:
			return m, nil
		case <-w.wake:
			continue // look again, keeping our place
		case <-ctx.Done():
			err = p.waitEnded(ctx, session)
		case <-deadline:
			err = &CheckoutTimeoutError{Waited: time.Since(start), Size: p.cfg.size, Overflow: p.cfg.overflow}
		}
		p.mu.Lock()
		p.dequeueLocked(w)
		select {
		case m := <-w.handed: // handed over just as we gave up: pass it on
			m.calls--
			p.offerLocked(m)
		default:
		}
		p.mu.Unlock()
		return nil, err
	}
}

// grow starts an overflow worker for checkout and hands it out busy.
func (p *Pool) grow(ctx context.Context, overflow bool) (*member, error) {
	m, err := p.startMember(ctx, overflow)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.starting--
	if err != nil {
		if overflow {
			p.overflows--
		}
		p.notifyLocked()
		return nil, err
	}
	if p.closed {
		m.retired = true
		go m.w.Close()
		return nil, wire.ErrClosed
	}
	m.calls++
	p.members[m] = struct{}{}
	return m, nil
}

// anyLiveLocked reports whether some member can serve calls (busy or not).
func (p *Pool) anyLiveLocked() bool {
	for m := range p.members {
		if m.w.Err() == nil {
			return true
		}
	}
	return false
}

func (p *Pool) pickLocked(session string) (*member, error) {
	if session != "" {
		if r, ok := p.sessions.get(session); ok && r.m.w.Err() == nil {
			p.sessions.touch(r, p.cfg.clock.Now())
			owner := r.m
			// A pipelining worker that serves a call is busy for a session:
			// under AffinityHint its call takes an idle worker rather than
			// wait behind, and AffinityStrictFailFast still fails fast.
			if !owner.full() && !(owner.pipelined && owner.busy()) {
				owner.calls++
				return owner, nil
			}
			if owner.settling {
				return nil, nil // the session's worker is ending a cancelled call (within the cancel grace): wait for it
			}
			switch p.cfg.affinity {
			case AffinityStrictFailFast:
				return nil, fmt.Errorf("%w: session %q is bound to worker %s", ErrSessionBusy, session, owner.w.ID())
			case AffinityStrictQueue:
				return nil, nil
			}
		}
	}
	// The worker with the most calls that can take one more: a pool of
	// workers with WithConcurrency fills one before it wakes another. A
	// pipelining pool takes the one with the fewest: a call goes behind
	// another only when no worker is idle.
	var best *member
	for m := range p.members {
		if m.full() || m.w.Err() != nil {
			continue
		}
		if best == nil || !m.pipelined && m.calls > best.calls || m.pipelined && m.calls < best.calls {
			best = m
		}
	}
	if best != nil {
		best.calls++
		if session != "" {
			p.sessions.put(session, best, p.cfg.clock.Now())
		}
	}
	return best, nil
}

// checkinSettled checks m in once a call cancelled on it has ended in the
// background (at once when none was): the next caller never waits for, or
// fails because of, another caller's cancelled call.
func (p *Pool) checkinSettled(m *member) {
	done := m.w.client.settled()
	if done == nil {
		p.checkin(m)
		return
	}
	p.mu.Lock()
	m.settling = true
	p.mu.Unlock()
	p.bg.Add(1)
	go func() {
		defer p.bg.Done()
		<-done
		p.checkin(m)
	}()
}

func (p *Pool) checkin(m *member) {
	p.mu.Lock()
	m.calls--
	if m.settling {
		m.settling = false
		if m.w.Err() != nil {
			p.notifyLocked() // its sessions' waiters may take another worker now
		}
	}
	p.sweepLocked()
	retire := m.overflow && !p.closed && !p.offerLocked(m) && m.calls == 0 // an overflow worker serves who waits, then retires
	if retire {
		m.retired = true
		delete(p.members, m)
		p.forgetLocked(m)
	} else if !m.overflow {
		p.offerLocked(m) // to the first waiter, if any: no thundering herd
	}
	p.mu.Unlock()
	if retire {
		_ = m.w.Close()
		p.mu.Lock()
		p.overflows--
		p.notifyLocked()
		p.mu.Unlock()
		p.events.publish(Event{Kind: EventStopped, WorkerID: m.w.ID(), Pid: m.w.Pid()})
	}
}

// waitEnded is the error of a checkout whose context ended while it
// waited: it names the worker it waited for when one was ending a
// cancelled call (in its cancel grace), or says that all were busy.
func (p *Pool) waitEnded(ctx context.Context, session string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r, ok := p.sessions.get(session); session != "" && ok {
		label := r.m.w.client.label
		stage := fmt.Sprintf("waiting for %s, the worker of session %q, which was serving another call", label, session)
		if r.m.settling {
			stage = fmt.Sprintf("waiting for %s, the worker of session %q, which was ending a cancelled call within its cancel grace (%v)", label, session, r.m.w.client.cancelGrace)
		}
		return &stagedErr{err: ctx.Err(), stage: stage, worker: label}
	}
	var settling, labels []string
	grace := time.Duration(0)
	for m := range p.members {
		if m.settling {
			c := m.w.client
			c.mu.Lock()
			what := "a cancelled call"
			if c.settleOf != "" {
				what = fmt.Sprintf("a cancelled call %q", c.settleOf)
			}
			c.mu.Unlock()
			settling = append(settling, c.label+" was ending "+what)
			labels = append(labels, c.label)
			grace = c.cancelGrace
		}
	}
	slices.Sort(settling)
	slices.Sort(labels)
	others := ""
	if len(p.members) > len(settling) {
		others = ", the others were busy"
	}
	if len(settling) == 0 {
		return &stagedErr{err: ctx.Err(), stage: fmt.Sprintf("waiting for a free worker: all %d were busy", len(p.members))}
	}
	return &stagedErr{err: ctx.Err(), worker: labels[0],
		stage: fmt.Sprintf("waiting for a free worker: %s within its cancel grace (%v)%s", strings.Join(settling, ", "), grace, others)}
}
