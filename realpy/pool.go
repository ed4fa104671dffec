package realpy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pyharness/pyharness/internal/ownership"
	"github.com/pyharness/pyharness/wire"
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
	reports healReports // how healing tells the checkout queue (pool_reports.go)

	zmu    sync.Mutex
	zygote *Zygote
	own    *ownership.Token // the pool in the record of what realpy started

	mu        sync.Mutex
	members   map[*member]struct{}
	sessions  *sessionTable // session id -> the worker that served it (sessions.go)
	swept     time.Time     // when idle sessions were last dropped
	starting  int           // slots being started (lazy growth, replacement)
	growing   int           // of them, lazy growth (pool_lazy.go)
	overflows int           // live or starting overflow workers
	closed    bool
	startErr  error     // the last start that failed, until one succeeds
	queue     []*waiter // checkouts waiting for a worker, first come first served

	bg         sync.WaitGroup
	starts     context.Context // the context of replacement starts, cancelled by Close
	stopStarts context.CancelFunc
	grows      context.Context // the context of lazy growth: starts', or for Spawn cancelled as Close begins
	stopGrows  context.CancelFunc
	closeOnce  sync.Once
	closeErr   error
	closing    chan struct{}

	spawned atomic.Int64
	forked  atomic.Int64
	fork    forkState // fork safety and poisoned zygotes (pool_forksafe.go)
}

type member struct {
	w        *Worker
	calls    int  // calls checked out on it now
	capacity int  // calls it serves at once (Client.Capacity: WithConcurrency on a multiplexing worker), at least 1
	settling bool // busy ending a cancelled call: its sessions wait for it
	// WithPipelining on a worker that serves one call at a time: a second
	// call may be written behind the running one (capacity 2)
	pipelined bool
	overflow  bool
	retired   bool // closed by the pool on purpose: its exit is not a crash
}

// busy reports whether m serves a call now.
func (m *member) busy() bool { return m.calls > 0 }

// full reports whether m serves as many calls as it can.
func (m *member) full() bool {
	return m.calls >= max(1, m.capacity) || m.pipelined && m.settling // nothing behind a call being settled
}

// PoolStats counts what a pool started.
type PoolStats struct {
	Spawned int64 // interpreters started as processes (zygotes included)
	Forked  int64 // workers forked from a zygote
	Size    int   // workers alive now
	Busy    int   // workers serving at least one call
	// Calls in flight (a worker with WithConcurrency, or WithPipelining,
	// has several). A call cancelled on a worker keeps its place, and the
	// calls that ended on that worker meanwhile theirs, until the worker has
	// answered it (at most WithCancelGrace): poll with Eventually after a
	// cancellation.
	InFlight int
	Starting int          // workers being started now (WithLazy's growth, replacements)
	Threads  ThreadLimits // the thread limits its workers run with (none before it starts one)

	// How a zygote pool's forks went. ForkUnsafe is why the zygote could
	// not fork safely, in a few words ("libgomp (loaded by
	// sklearn.utils._openmp_helpers)"); "" when it could. ForkFallbacks
	// counts the workers the zygote spawned in place of forks (forking
	// unsafe, or the zygote suspect); ForkSuspects the times the zygote was
	// found poisoned (forked workers hung or died on their first call, twice
	// in a row).
	ForkUnsafe    string
	ForkFallbacks int64
	ForkSuspects  int64
}

// StartPool starts a pool. All WithSize workers start at once
// (concurrently, or forked from one zygote), or with WithLazy one, and
// StartPool returns when every one has answered its readiness ping. If some
// fail, it returns the pool with the workers that did start and the joined
// start errors; close it.
//
// Options that do not apply to a pool, or to a pool attached
// to another process's zygote (WithModules, WithPython, ... with
// WithZygoteAddr: the zygote's owner chose those), or WithPreload without
// WithStrategy(ZygoteFork), are an *OptionError, and no pool is returned.
func StartPool(ctx context.Context, opts ...Option) (*Pool, error) {
	target := targetPool
	for _, o := range opts {
		if o.name == "WithZygoteAddr" {
			target = targetAttachedPool
		}
	}
	cfg, err := newConfig(target, opts)
	if err != nil {
		return nil, err
	}
	if len(cfg.preload) > 0 && cfg.strategy != ZygoteFork {
		return nil, optionError("WithPreload", targetPool, targetZygote|targetPool|targetContainer, "a pool imports preloads once, in its zygote: add WithStrategy(ZygoteFork), or import the modules from a handler module")
	}
	if cfg.runID == "" {
		cfg.runID = newRunID()
	}
	p := &Pool{
		cfg:      cfg,
		events:   newBus(),
		members:  map[*member]struct{}{},
		sessions: newSessionTable(cfg.maxSessions),
		closing:  make(chan struct{}),
	}
	p.reports = checkoutReports{p}
	p.starts, p.stopStarts = context.WithCancel(context.Background())
	p.grows, p.stopGrows = context.WithCancel(p.starts)
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
	n := cfg.size
	if cfg.lazy {
		n = 1 // the rest as calls queue (growLocked)
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
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

// Fresh returns a brand-new private worker, forked from the zygote or
// spawned, for specs that need full isolation. The caller closes it.
func (p *Pool) Fresh(ctx context.Context) (*Worker, error) {
	if p.isClosed() {
		return nil, wire.ErrClosed
	}
	return p.newWorker(ctx)
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
	busy, calls := 0, 0
	for m := range p.members {
		if m.busy() {
			busy++
		}
		calls += m.calls
	}
	s := PoolStats{Spawned: p.spawned.Load(), Forked: p.forked.Load(), Size: len(p.members), Busy: busy, InFlight: calls, Starting: p.starting,
		Threads: p.threadStats()}
	p.addForkStats(&s)
	return s
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
		if p.cfg.strategy == Spawn {
			p.stopGrows() // a spawn cut short is killed and reaped; only a fork mid-handshake needs the grace
		}
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
		p.stopGrows()
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
