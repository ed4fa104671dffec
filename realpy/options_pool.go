// Options of pools (targetPool, targetAttachedPool).

package realpy

import (
	"strconv"
	"time"

	"github.com/jonboulle/clockwork"
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

// WithSize sets how many workers a pool keeps warm (default 2); n < 1 is
// an *OptionError.
func WithSize(n int) Option {
	return option("WithSize", pools, func(c *config) {
		if c.positive("WithSize", n > 0, strconv.Itoa(n), "1 or more workers") {
			c.size = n
		}
	})
}

// WithOverflow lets a pool start up to n extra workers while all are busy;
// each is closed when its call returns.
func WithOverflow(n int) Option {
	return option("WithOverflow", pools, func(c *config) { c.overflow = n })
}

// WithLazy makes a pool start one worker up front and the others as calls
// queue: a call that finds no worker free while the pool is below its size
// has a worker started for the queue (a few at a time; each answers its
// readiness ping first), and each new worker goes to the call that has
// waited longest, as a freed one does. A start that fails is the error of
// the call waiting longest (*LazyStartError); the next call that finds none
// free starts another. A shared Spawn pool (harness.NewSharedPool) is lazy.
func WithLazy() Option { return option("WithLazy", pools, func(c *config) { c.lazy = true }) }

// WithPipelining lets a pool hand out a second place on a worker that
// serves one call at a time once every worker is busy: the call's request
// is written behind the running one, so the worker finds it waiting as it
// ends that call instead of a round trip later (PROTOCOL.md, Pipelining).
// Calls are still handed out in arrival order, and an idle worker is
// always taken first. A call behind a long one waits for it even if
// another worker frees up meanwhile, so it pays for many short calls (the
// throughput of 8 callers on 2 workers), not for calls of mixed length. A
// call whose context ends while it waits behind is answered cancelled
// without running. A session's call counts its busy worker as busy (under
// AffinityHint it takes an idle worker; AffinityStrictFailFast fails
// fast). Workers that multiplex (WithConcurrency) or do not list
// "pipeline" serve as before.
func WithPipelining() Option {
	return option("WithPipelining", pools, func(c *config) { c.pipelining = true })
}

// WithCheckoutTimeout bounds how long a call waits for a free worker; past
// it the call fails with a *CheckoutTimeoutError (ErrPoolExhausted).
func WithCheckoutTimeout(d time.Duration) Option {
	return option("WithCheckoutTimeout", pools, func(c *config) { c.checkoutTimeout = d })
}

// WithCallTimeout gives every pool call a deadline (the context's, if earlier, wins).
func WithCallTimeout(d time.Duration) Option {
	return option("WithCallTimeout", pools, func(c *config) { c.callTimeout = d })
}

// WithStrategy picks how a pool starts its workers: Spawn (default) or
// ZygoteFork. A pool attached to a zygote (WithZygoteAddr) always forks.
func WithStrategy(s Strategy) Option {
	return option("WithStrategy", targetPool, func(c *config) {
		c.strategy = s
		c.strategySet = true
	})
}

// WithHeartbeat probes every worker of a pool each interval; a worker that
// misses `misses` probes in a row (stuck in a handler) is killed and replaced.
func WithHeartbeat(interval time.Duration, misses int) Option {
	return option("WithHeartbeat", pools, func(c *config) {
		c.heartbeat = interval
		c.heartbeatMisses = max(misses, 1)
	})
}

// WithAffinity sets how calls carrying a session id are routed (default AffinityHint).
func WithAffinity(a Affinity) Option {
	return option("WithAffinity", pools, func(c *config) { c.affinity = a })
}

// WithSessionTTL sets how long a pool remembers which worker served an
// idle session (default DefaultSessionTTL, 10 minutes); after it the
// session's next call may go to another worker. Pool.EndSession ends one at
// once.
func WithSessionTTL(d time.Duration) Option {
	return option("WithSessionTTL", pools, func(c *config) {
		if c.positive("WithSessionTTL", d > 0, d.String(), "a positive duration") {
			c.sessionTTL = d
		}
	})
}

// WithMaxSessions bounds how many session routes a pool keeps (default
// DefaultMaxSessions, 10000 routes, under 2 MiB). A new session
// past the bound drops the route of the session used least recently: its
// next call is routed as a new session's, and what it left in its worker
// stays there (as after WithSessionTTL).
func WithMaxSessions(n int) Option {
	return option("WithMaxSessions", pools, func(c *config) {
		if c.positive("WithMaxSessions", n > 0, strconv.Itoa(n), "a positive number of sessions") {
			c.maxSessions = n
		}
	})
}

// WithBreaker puts a circuit breaker in front of a pool's calls. Crashes,
// hangs and protocol violations count; Python exceptions do not.
func WithBreaker(s BreakerSettings) Option {
	return option("WithBreaker", pools, func(c *config) { c.breaker = &s })
}

// WithRetry retries a pool call up to n times, on another worker, when its
// worker died under it; delays grow exponentially from delay.
func WithRetry(n int, delay time.Duration) Option {
	return option("WithRetry", pools, func(c *config) {
		c.retries = n
		c.retryDelay = delay
	})
}

// withClock sets the clock of a pool's breaker and retry delays (a
// clockwork.FakeClock in specs, so nothing sleeps for real).
func withClock(clock clockwork.Clock) Option {
	return option("WithClock", pools, func(c *config) { c.clock = clock })
}

// withZygoteAddr makes a pool fork its workers from a zygote another process
// started (Zygote.Addr), instead of starting its own: how parallel Ginkgo
// processes share one pool host. The pool cannot restart that zygote, and
// the options that say how to start an interpreter (WithModules,
// WithPython, ...) belong to the zygote's owner, not to the pool.
func withZygoteAddr(addr string) Option {
	return option("WithZygoteAddr", pools, func(c *config) {
		c.zygoteAddr = addr
		c.strategy = ZygoteFork
		c.strategySet = true
	})
}

// splitShared splits the options of a shared pool (one host, a pool
// attached to it in each test process) between the host, started on target
// (targetHost, targetZygote or targetContainer), and each process's pool.
// WithStrategy is dropped (a shared pool forks: callers handle Spawn before
// splitting), WithReuse too unless the host is a warm host; WithZygoteAddr,
// and an option that applies to neither, are errors.
func splitShared(target target, opts ...Option) (host, pool []Option, err error) {
	for _, o := range opts {
		if o.apply == nil {
			return nil, nil, checkOptions(target, o)
		}
		toHost, toPool := o.appliesTo(target), o.appliesTo(targetAttachedPool)
		switch {
		case o.name == "WithStrategy":
			continue
		case o.name == "WithReuse" && target != targetHost:
			continue
		case o.name == "WithZygoteAddr":
			return nil, nil, optionError(o.name, target, 0, "a shared pool starts its own host and attaches its pools to it; WithZygoteAddr is taken by a StartPool of your own")
		case !toHost && !toPool:
			return nil, nil, checkOptions(target, o)
		}
		if toHost {
			host = append(host, o)
		}
		if toPool {
			pool = append(pool, o)
		}
	}
	return host, pool, nil
}
