package realpy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/pyharness/pyharness/internal/ownership"
	"github.com/pyharness/pyharness/wire"
)

// Strategy says how a pool starts its interpreters.
type Strategy string

const (
	// Spawn starts every interpreter as its own process, all concurrently.
	Spawn Strategy = "spawn"
	// ZygoteFork starts one zygote that imports the modules once and forks
	// a worker per pool slot. Use Spawn for code that is not fork-safe.
	ZygoteFork Strategy = "zygote"
)

// Affinity says how calls carrying a session id (wire.WithSession) are routed.
type Affinity string

const (
	// AffinityHint prefers the worker that served the session, else any free one.
	//
	// Under every affinity, a session's call waits while its worker ends a
	// call cancelled on it (at most WithCancelGrace), rather than moving the
	// session: what the session left in the worker is still there after.
	AffinityHint Affinity = "hint"
	// AffinityStrictQueue waits for the worker that served the session.
	AffinityStrictQueue Affinity = "strict-queue"
	// AffinityStrictFailFast fails with ErrSessionBusy when that worker is busy.
	AffinityStrictFailFast Affinity = "strict-fail-fast"
)

var (
	// ErrSessionBusy: strict-fail-fast affinity and the session's worker is busy.
	ErrSessionBusy = errors.New("realpy: the session's worker is busy")
	// ErrPoolExhausted: no worker became free within the checkout bound.
	ErrPoolExhausted = errors.New("realpy: no free worker")
	errCheckout      = errors.New("checkout")
)

// NoWorkerError says a pool has no worker to serve a call and its last
// attempt to start one failed (Err, the start error: an import that fails,
// an interpreter that is not Python). It matches ErrPoolExhausted and
// whatever Err matches; the pool keeps retrying replacements in the
// background, so a later call may succeed.
type NoWorkerError struct {
	Size int
	Err  error
}

func (e *NoWorkerError) Error() string {
	return fmt.Sprintf("realpy: the pool has none of its %d workers, and the last start failed: %v", e.Size, e.Err)
}

// Unwrap returns the start error.
func (e *NoWorkerError) Unwrap() error { return e.Err }

// Is matches ErrPoolExhausted.
func (e *NoWorkerError) Is(target error) bool { return target == ErrPoolExhausted }

// CheckoutTimeoutError says no worker became free within WithCheckoutTimeout.
type CheckoutTimeoutError struct {
	Waited   time.Duration
	Size     int
	Overflow int
}

func (e *CheckoutTimeoutError) Error() string {
	return fmt.Sprintf("realpy: no free worker after %v (size %d, overflow %d, all busy)", e.Waited, e.Size, e.Overflow)
}

// Is matches ErrPoolExhausted.
func (e *CheckoutTimeoutError) Is(target error) bool {
	return target == ErrPoolExhausted || target == errCheckout
}

// Pool is a set of warm workers behind the same call contract as one worker.
// Call goes to a free worker; crashed workers are replaced in the background;
// Close has the guarantees of Worker.Close.
type Pool struct {
	cfg     *config
	events  *bus
	circuit *breaker

	zmu    sync.Mutex
	zygote *Zygote
	own    *ownership.Token // the pool in the record of what realpy started

	mu        sync.Mutex
	members   map[*member]struct{}
	sessions  *sessionTable // session id -> the worker that served it (sessions.go)
	swept     time.Time     // when idle sessions were last dropped
	starting  int           // slots being started (lazy start, replacement)
	overflows int           // live or starting overflow workers
	closed    bool
	startErr  error     // the last start that failed, until one succeeds
	queue     []*waiter // checkouts waiting for a worker, first come first served

	bg         sync.WaitGroup
	starts     context.Context // the context of replacement starts, cancelled by Close
	stopStarts context.CancelFunc
	closeOnce  sync.Once
	closeErr   error
	closing    chan struct{}

	spawned atomic.Int64
	forked  atomic.Int64
}

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

type member struct {
	w        *Worker
	busy     bool
	settling bool // busy ending a cancelled call: its sessions wait for it
	overflow bool
	retired  bool // closed by the pool on purpose: its exit is not a crash
}

// PoolStats counts what a pool started.
type PoolStats struct {
	Spawned int64 // interpreters started as processes (zygotes included)
	Forked  int64 // workers forked from a zygote
	Size    int   // workers alive now
	Busy    int
}

// StartPool starts a pool. Unless lazy, all WithSize workers start at once
// (concurrently, or forked from one zygote) and StartPool returns when every
// one has answered its readiness ping. If some fail, it returns the pool
// with the workers that did start and the joined start errors; close it.
//
// Options that do not apply to a pool (WithWorkerID), or to a pool attached
// to another process's zygote (WithModules, WithPython, ... with
// WithZygoteAddr: the zygote's owner chose those), or WithPreload without
// WithStrategy(ZygoteFork), are an *OptionError, and no pool is returned.
func StartPool(ctx context.Context, opts ...Option) (*Pool, error) {
	target := TargetPool
	for _, o := range opts {
		if o.name == "WithZygoteAddr" {
			target = TargetAttachedPool
		}
	}
	cfg, err := newConfig(target, opts)
	if err != nil {
		return nil, err
	}
	if len(cfg.preload) > 0 && cfg.strategy != ZygoteFork {
		return nil, &OptionError{Option: "WithPreload", Given: TargetPool, Where: TargetZygote | TargetPool | TargetContainer,
			Reason: "a pool imports preloads once, in its zygote: add WithStrategy(ZygoteFork), or import the modules from a handler module"}
	}
	if cfg.runID == "" {
		cfg.runID = NewRunID()
	}
	p := &Pool{
		cfg:      cfg,
		events:   newBus(),
		members:  map[*member]struct{}{},
		sessions: newSessionTable(cfg.maxSessions),
		closing:  make(chan struct{}),
	}
	p.starts, p.stopStarts = context.WithCancel(context.Background())
	p.track(ctx)
	if cfg.breaker != nil {
		p.circuit = newBreaker(*cfg.breaker, cfg.clock)
	}
	if err := reapOrphansOnce(); err != nil {
		return p, err
	}
	if cfg.strategy == ZygoteFork {
		if err := p.startZygote(ctx); err != nil {
			return p, err
		}
	}
	if cfg.lazy {
		return p, nil
	}
	var wg sync.WaitGroup
	errs := make([]error, cfg.size)
	for i := range cfg.size {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := p.startMember(ctx, false)
			if err != nil {
				errs[i] = err
				return
			}
			p.mu.Lock()
			p.members[m] = struct{}{}
			p.offerLocked(m)
			p.mu.Unlock()
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return p, fmt.Errorf("realpy: start pool: %w", err)
	}
	return p, nil
}

func (p *Pool) startZygote(ctx context.Context) error {
	ctx = ownership.WithOwner(ctx, p.own) // the pool's, not its caller's
	var z *Zygote
	var err error
	if p.cfg.zygoteAddr != "" {
		z, err = attachZygote(ctx, p.cfg.zygoteAddr, &p.cfg.procConfig)
	} else {
		z, err = startZygote(ctx, &p.cfg.procConfig)
	}
	if err != nil {
		return err
	}
	if !z.Attached() {
		p.spawned.Add(1)
	}
	p.zmu.Lock()
	p.zygote = z
	p.zmu.Unlock()
	p.bg.Add(1)
	go p.watchZygote(z)
	return nil
}

// watchZygote restarts the zygote when it dies while the pool is open.
func (p *Pool) watchZygote(z *Zygote) {
	defer p.bg.Done()
	select {
	case <-z.Exited():
	case <-p.closing:
		return
	}
	_ = z.Close()
	select {
	case <-p.closing:
		return
	default:
	}
	if z.Attached() {
		p.events.publish(Event{Kind: EventZygote, WorkerID: z.ID(), Pid: z.Pid(),
			Cause: fmt.Errorf("realpy: the zygote at %s, owned by another process, is gone", p.cfg.zygoteAddr)})
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.startTimeout)
	defer cancel()
	err := p.startZygote(ctx)
	p.events.publish(Event{Kind: EventZygote, WorkerID: z.ID(), Pid: z.Pid(), Cause: err})
}

// newWorker starts one interpreter the pool's way: forked from the zygote,
// or spawned.
func (p *Pool) newWorker(ctx context.Context) (*Worker, error) {
	if p.cfg.strategy == ZygoteFork {
		p.zmu.Lock()
		z := p.zygote
		p.zmu.Unlock()
		if z == nil {
			return nil, errors.New("realpy: pool has no zygote")
		}
		w, err := z.Fork(ctx)
		if err == nil {
			p.forked.Add(1)
			p.events.publish(Event{Kind: EventStarted, WorkerID: w.ID(), Pid: w.Pid()})
		}
		return w, err
	}
	cfg := p.cfg.procConfig // each worker gets the process settings, nothing of the pool's
	cfg.onSpawn = func(pid int) {
		p.spawned.Add(1)
		p.events.publish(Event{Kind: EventStarted, Pid: pid})
	}
	return start(ctx, &cfg)
}

func (p *Pool) startMember(ctx context.Context, overflow bool) (*member, error) {
	w, err := p.newWorker(ownership.WithOwner(ctx, p.own)) // the pool's, not its caller's
	p.mu.Lock()
	if err != nil {
		p.startErr = err
		p.notifyLocked() // callers waiting for a worker learn that none is coming yet
	} else {
		p.startErr = nil
	}
	p.mu.Unlock()
	if err != nil {
		return nil, err
	}
	p.events.publish(Event{Kind: EventReady, WorkerID: w.ID(), Pid: w.Pid()})
	m := &member{w: w, overflow: overflow}
	p.bg.Add(1)
	go p.watch(m)
	if p.cfg.heartbeat > 0 {
		p.bg.Add(1)
		go p.heartbeat(m)
	}
	return m, nil
}

// Fresh returns a brand-new private worker, forked from the zygote or
// spawned, for specs that need full isolation. The caller closes it.
func (p *Pool) Fresh(ctx context.Context) (*Worker, error) {
	if p.isClosed() {
		return nil, wire.ErrClosed
	}
	return p.newWorker(ctx)
}

// watch replaces a member that dies while the pool uses it.
func (p *Pool) watch(m *member) {
	defer p.bg.Done()
	<-m.w.Exited()
	p.mu.Lock()
	if m.retired || p.closed {
		p.mu.Unlock()
		return
	}
	delete(p.members, m)
	p.forgetLocked(m)
	if m.overflow {
		p.overflows--
		p.notifyLocked()
		p.mu.Unlock()
		p.events.publish(Event{Kind: EventCrashed, WorkerID: m.w.ID(), Pid: m.w.Pid(), Cause: m.w.exitError()})
		return
	}
	p.starting++
	p.notifyLocked()
	p.mu.Unlock()
	p.events.publish(Event{Kind: EventCrashed, WorkerID: m.w.ID(), Pid: m.w.Pid(), Cause: m.w.exitError()})
	_ = m.w.Close()
	p.replace(m.w.ID())
}

// replace starts a worker in a crashed one's place, retrying with backoff
// while the pool is open.
func (p *Pool) replace(old string) {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval = 50*time.Millisecond, 5*time.Second
	for {
		// Not cancelled at once when the pool closes: a fork cut short
		// mid-handshake would leave a child nobody waits for. Close waits for
		// this start for a grace period, then cancels it (a zygote that does
		// not answer), and closes the new worker if it came.
		ctx, cancel := context.WithTimeout(p.starts, p.cfg.startTimeout)
		m, err := p.startMember(ctx, false)
		cancel()
		p.mu.Lock()
		if err == nil {
			p.starting--
			if p.closed {
				p.mu.Unlock()
				m.retired = true
				_ = m.w.Close()
				return
			}
			p.members[m] = struct{}{}
			p.offerLocked(m)
			p.mu.Unlock()
			p.events.publish(Event{Kind: EventReplaced, WorkerID: m.w.ID(), Pid: m.w.Pid(), Replaces: old})
			return
		}
		if p.closed {
			p.starting--
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		p.events.publish(Event{Kind: EventCrashed, Replaces: old, Cause: fmt.Errorf("replacement failed to start: %w", err)})
		timer := time.NewTimer(b.NextBackOff())
		select {
		case <-timer.C:
		case <-p.closing:
			timer.Stop()
			p.mu.Lock()
			p.starting--
			p.mu.Unlock()
			return
		}
	}
}

// heartbeat kills a worker that misses WithHeartbeat's threshold of probes
// in a row: a worker stuck in a handler answers none.
func (p *Pool) heartbeat(m *member) {
	defer p.bg.Done()
	ticker := time.NewTicker(p.cfg.heartbeat)
	defer ticker.Stop()
	missed := 0
	for {
		select {
		case <-ticker.C:
		case <-m.w.Exited():
			return
		case <-p.closing:
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), p.cfg.heartbeat)
		err := m.w.Probe(ctx)
		cancel()
		switch {
		case err == nil:
			missed = 0
		case errors.Is(err, context.DeadlineExceeded):
			missed++
			if missed >= p.cfg.heartbeatMisses {
				m.w.KillFor(fmt.Sprintf("killed by the pool's health check: %d heartbeats of %v missed", missed, p.cfg.heartbeat))
				return
			}
		default:
			return // the worker is gone; watch handles it
		}
	}
}

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
}

// offerLocked hands a free member to the first waiter that may take it and
// reports whether one did. Waiters are served in arrival order; a waiter
// whose session is bound to another worker under AffinityStrictQueue, or to
// one ending a cancelled call, waits for that one.
func (p *Pool) offerLocked(m *member) bool {
	if m.busy || m.w.Err() != nil {
		return false
	}
	for i, w := range p.queue {
		if w.session != "" {
			if r, ok := p.sessions.get(w.session); ok && r.m != m && r.m.w.Err() == nil && (p.cfg.affinity == AffinityStrictQueue || r.m.settling) {
				continue
			}
		}
		m.busy = true
		if w.session != "" {
			if r, ok := p.sessions.get(w.session); !ok || r.m.w.Err() != nil || p.cfg.affinity == AffinityHint && r.m != m && r.m.busy {
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

// checkout returns a free worker for session, starting one if lazy or
// overflow allows, waiting for one otherwise (bounded by ctx and
// WithCheckoutTimeout).
func (p *Pool) checkout(ctx context.Context, session string) (*member, error) {
	var deadline <-chan time.Time
	start := time.Now()
	if p.cfg.checkoutTimeout > 0 {
		timer := time.NewTimer(p.cfg.checkoutTimeout)
		defer timer.Stop()
		deadline = timer.C
	}
	var w *waiter // made once this call has to wait: a free worker costs no allocation
	for {
		p.mu.Lock()
		if w != nil {
			select {
			case m := <-w.handed: // handed over while we were woken for something else
				p.mu.Unlock()
				return m, nil
			default:
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
		if err := p.startErr; err != nil && !p.anyLiveLocked() && !(p.cfg.lazy && len(p.members)+p.starting < p.cfg.size) {
			p.dequeueLocked(w)
			p.mu.Unlock()
			return nil, &NoWorkerError{Size: p.cfg.size, Err: err}
		}
		grow, overflow := false, false
		switch {
		case p.cfg.lazy && len(p.members)+p.starting-p.overflows < p.cfg.size:
			grow = true
		case p.overflows < p.cfg.overflow:
			grow, overflow = true, true
			p.overflows++
		}
		if grow {
			p.starting++
			p.dequeueLocked(w)
			p.mu.Unlock()
			m, err := p.grow(ctx, overflow)
			if m != nil || err != nil {
				return m, err
			}
			continue
		}
		if w == nil {
			w = &waiter{session: session, handed: make(chan *member, 1), wake: make(chan struct{}, 1)}
		}
		if !slices.Contains(p.queue, w) {
			p.queue = append(p.queue, w)
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
			m.busy = false
			p.offerLocked(m)
		default:
		}
		p.mu.Unlock()
		return nil, err
	}
}

// grow starts a worker for checkout and hands it out busy.
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
	m.busy = true
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
			if !owner.busy {
				owner.busy = true
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
	for m := range p.members {
		if !m.busy && m.w.Err() == nil {
			m.busy = true
			if session != "" {
				p.sessions.put(session, m, p.cfg.clock.Now())
			}
			return m, nil
		}
	}
	return nil, nil
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

func (p *Pool) checkin(m *member) {
	p.mu.Lock()
	m.busy = false
	if m.settling {
		m.settling = false
		if m.w.Err() != nil {
			p.notifyLocked() // its sessions' waiters may take another worker now
		}
	}
	p.sweepLocked()
	retire := m.overflow && !p.closed && !p.offerLocked(m) // an overflow worker serves who waits, then retires
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

// Subscribe returns a subscription to the pool's lifecycle events, so specs
// can wait for a replacement instead of sleeping. Close it when done.
func (p *Pool) Subscribe() *Subscription { return p.events.subscribe() }

// Workers returns the workers of the pool now (busy or not), ordered by id,
// so Workers()[0] is the same worker until it dies.
func (p *Pool) Workers() []*Worker {
	p.mu.Lock()
	defer p.mu.Unlock()
	ws := make([]*Worker, 0, len(p.members))
	for m := range p.members {
		ws = append(ws, m.w)
	}
	slices.SortFunc(ws, func(a, b *Worker) int { return strings.Compare(a.ID(), b.ID()) })
	return ws
}

// Zygote returns the pool's zygote, nil unless the strategy is ZygoteFork.
func (p *Pool) Zygote() *Zygote {
	p.zmu.Lock()
	defer p.zmu.Unlock()
	return p.zygote
}

// Size returns the number of workers the pool keeps (WithSize).
func (p *Pool) Size() int { return p.cfg.size }

// Stats counts the pool's interpreters.
func (p *Pool) Stats() PoolStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	busy := 0
	for m := range p.members {
		if m.busy {
			busy++
		}
	}
	return PoolStats{Spawned: p.spawned.Load(), Forked: p.forked.Load(), Size: len(p.members), Busy: busy}
}

// BreakerState returns the breaker's state; BreakerClosed without WithBreaker.
func (p *Pool) BreakerState() BreakerState {
	if p.circuit == nil {
		return BreakerClosed
	}
	return p.circuit.current()
}

// Close closes every worker (concurrently) and the zygote, and returns once
// all are reaped and every goroutine of the pool has ended. Calls in flight
// and later calls fail with wire.ErrClosed. Idempotent; a nil Pool (options
// refused) closes as nothing.
func (p *Pool) Close() error {
	if p == nil {
		return nil // StartPool refused its options: there is nothing to close
	}
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		close(p.closing)
		members := make([]*member, 0, len(p.members))
		for m := range p.members {
			m.retired = true
			members = append(members, m)
		}
		p.members = map[*member]struct{}{}
		p.notifyLocked()
		p.mu.Unlock()
		var wg sync.WaitGroup
		for _, m := range members {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = m.w.Close()
				p.events.publish(Event{Kind: EventStopped, WorkerID: m.w.ID(), Pid: m.w.Pid()})
			}()
		}
		membersDone := make(chan struct{})
		go func() {
			wg.Wait()
			close(membersDone)
		}()
		bgDone := make(chan struct{})
		go func() {
			<-membersDone
			p.bg.Wait()
			close(bgDone)
		}()
		// What has not ended within a grace period may be waiting on the
		// zygote (stopped, paused): cancel replacement starts and close the
		// zygote meanwhile, which for a zygote of our own kills it and its
		// children. (Not at once: a fork cut short mid-handshake would leave
		// a child nobody waits for, where the zygote is healthy.)
		var zygoteClosed chan error
		timer := time.NewTimer(p.cfg.grace)
		select {
		case <-bgDone:
		case <-timer.C:
			p.stopStarts()
			if z := p.Zygote(); z != nil {
				zygoteClosed = make(chan error, 1)
				go func() { zygoteClosed <- z.Close() }()
			}
			<-bgDone
		}
		timer.Stop()
		p.stopStarts()
		if zygoteClosed != nil {
			p.closeErr = <-zygoteClosed
		}
		if z := p.Zygote(); z != nil {
			if err := z.Close(); p.closeErr == nil {
				p.closeErr = err // idempotent: the result of the close above, or this one's
			}
		}
		p.events.closeAll()
	})
	return p.closeErr
}
