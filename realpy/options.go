package realpy

import (
	"context"
	"io"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/pyharness/pyharness/wire"
)

// Option configures Start (and, where it applies, NewClient).
type Option func(*config)

type config struct {
	python       string
	workerSource string
	modules      []string
	pythonPath   []string
	env          []string
	dir          string
	workerID     string
	runID        string
	maxFrame     int
	grace        time.Duration
	startTimeout time.Duration
	stderrTail   int
	output       io.Writer
	onSpawn      func(pid int)
	preload      []string

	// pool
	size            int
	overflow        int
	lazy            bool
	checkoutTimeout time.Duration
	callTimeout     time.Duration
	strategy        Strategy
	heartbeat       time.Duration
	heartbeatMisses int
	affinity        Affinity
	breaker         *BreakerSettings
	retries         int
	retryDelay      time.Duration
	clock           clockwork.Clock
	zygoteAddr      string
}

// Defaults of the options below.
const (
	DefaultGrace        = 2 * time.Second
	DefaultStartTimeout = 60 * time.Second
	DefaultStderrTail   = 20
	DefaultPoolSize     = 2
)

func newConfig(opts []Option) *config {
	cfg := &config{
		maxFrame:     wire.DefaultMaxFrame,
		grace:        DefaultGrace,
		startTimeout: DefaultStartTimeout,
		stderrTail:   DefaultStderrTail,
		size:         DefaultPoolSize,
		strategy:     Spawn,
		affinity:     AffinityHint,
		clock:        clockwork.NewRealClock(),
	}
	for _, opt := range opts {
		opt(cfg)
	}
	return cfg
}

// WithPreload names modules a zygote imports once, before forking workers
// (for instance numpy or a model library), so every forked worker starts
// with them loaded.
func WithPreload(modules ...string) Option {
	return func(c *config) { c.preload = append(c.preload, modules...) }
}

// startContext bounds a start by WithStartTimeout (a context deadline that
// comes earlier wins).
func (c *config) startContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.startTimeout > 0 {
		return context.WithTimeout(ctx, c.startTimeout)
	}
	return context.WithCancel(ctx)
}

// id returns the configured worker id, or prefix and a random one.
func (c *config) id(prefix string) string {
	if c.workerID != "" {
		return c.workerID
	}
	return prefix + randomID()
}

// WithPython sets the interpreter (a path or a name on PATH), overriding
// $PYHARNESS_PYTHON and python3 on PATH.
func WithPython(path string) Option { return func(c *config) { c.python = path } }

// WithModules names Python modules whose handlers the worker serves
// (--module, repeatable). Each public function of a module becomes a method,
// or the module lists them in a dict named PYHARNESS_METHODS.
func WithModules(modules ...string) Option {
	return func(c *config) { c.modules = append(c.modules, modules...) }
}

// WithPythonPath adds directories to the worker's PYTHONPATH, typically where
// the modules of WithModules live.
func WithPythonPath(dirs ...string) Option {
	return func(c *config) { c.pythonPath = append(c.pythonPath, dirs...) }
}

// WithEnv adds KEY=VALUE entries to the worker's environment.
func WithEnv(kv ...string) Option { return func(c *config) { c.env = append(c.env, kv...) } }

// WithDir sets the worker's working directory.
func WithDir(dir string) Option { return func(c *config) { c.dir = dir } }

// WithWorkerSource runs the pyharness_worker package found in dir (for work
// on the worker itself) instead of the copy embedded in the Go module.
func WithWorkerSource(dir string) Option { return func(c *config) { c.workerSource = dir } }

// WithWorkerID sets the id the worker reports; by default a random one.
func WithWorkerID(id string) Option { return func(c *config) { c.workerID = id } }

// WithRunID marks the worker as belonging to a test run (environment and
// argv), so leftovers of a run can be found and reaped.
func WithRunID(id string) Option { return func(c *config) { c.runID = id } }

// WithMaxFrame sets the largest frame payload, in bytes, on both sides.
func WithMaxFrame(n int) Option {
	return func(c *config) {
		if n > 0 && n <= wire.MaxFrameLimit {
			c.maxFrame = n
		}
	}
}

// WithGrace bounds each step of Close (shutdown request, EOF, SIGTERM) before
// it moves on to the next; SIGKILL ends the sequence.
func WithGrace(d time.Duration) Option { return func(c *config) { c.grace = d } }

// WithStartTimeout bounds Start when its context has no earlier deadline.
func WithStartTimeout(d time.Duration) Option { return func(c *config) { c.startTimeout = d } }

// WithStderrTail sets how many stderr lines a *wire.WorkerExitedError carries.
func WithStderrTail(lines int) Option { return func(c *config) { c.stderrTail = lines } }

// WithOutput also copies the worker's stdout and stderr to w (for instance
// GinkgoWriter); they are always captured in Stdout and Stderr.
func WithOutput(w io.Writer) Option { return func(c *config) { c.output = w } }

// WithSize sets how many workers a pool keeps warm (default 2).
func WithSize(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.size = n
		}
	}
}

// WithOverflow lets a pool start up to n extra workers while all are busy;
// each is closed when its call returns.
func WithOverflow(n int) Option { return func(c *config) { c.overflow = n } }

// WithLazy starts a pool's workers only when calls first need them.
func WithLazy() Option { return func(c *config) { c.lazy = true } }

// WithCheckoutTimeout bounds how long a call waits for a free worker; past
// it the call fails with a *CheckoutTimeoutError (ErrPoolExhausted).
func WithCheckoutTimeout(d time.Duration) Option { return func(c *config) { c.checkoutTimeout = d } }

// WithCallTimeout gives every pool call a deadline (the context's, if earlier, wins).
func WithCallTimeout(d time.Duration) Option { return func(c *config) { c.callTimeout = d } }

// WithStrategy picks how a pool starts its workers: Spawn (default) or ZygoteFork.
func WithStrategy(s Strategy) Option { return func(c *config) { c.strategy = s } }

// WithHeartbeat probes every worker of a pool each interval; a worker that
// misses `misses` probes in a row (stuck in a handler) is killed and replaced.
func WithHeartbeat(interval time.Duration, misses int) Option {
	return func(c *config) {
		c.heartbeat = interval
		c.heartbeatMisses = max(misses, 1)
	}
}

// WithAffinity sets how calls carrying a session id are routed (default AffinityHint).
func WithAffinity(a Affinity) Option { return func(c *config) { c.affinity = a } }

// WithBreaker puts a circuit breaker in front of a pool's calls. Crashes,
// hangs and protocol violations count; Python exceptions do not.
func WithBreaker(s BreakerSettings) Option { return func(c *config) { c.breaker = &s } }

// WithRetry retries a pool call up to n times, on another worker, when its
// worker died under it; delays grow exponentially from delay.
func WithRetry(n int, delay time.Duration) Option {
	return func(c *config) {
		c.retries = n
		c.retryDelay = delay
	}
}

// WithClock sets the clock of the breaker and retry delays (a
// clockwork.FakeClock in specs, so nothing sleeps for real).
func WithClock(clock clockwork.Clock) Option { return func(c *config) { c.clock = clock } }

// WithZygoteAddr makes a pool fork its workers from a zygote another process
// started (Zygote.Addr), instead of starting its own: how parallel Ginkgo
// processes share one pool host. The pool cannot restart that zygote.
func WithZygoteAddr(addr string) Option {
	return func(c *config) {
		c.zygoteAddr = addr
		c.strategy = ZygoteFork
	}
}

// Settings is the part of a set of options that a backend starting
// interpreters elsewhere (a container) needs to honour.
type Settings struct {
	Modules    []string
	PythonPath []string
	Preload    []string
	Env        []string
	MaxFrame   int
	RunID      string
}

// ResolveOptions applies opts and returns the resulting Settings.
func ResolveOptions(opts ...Option) Settings {
	c := newConfig(opts)
	return Settings{Modules: c.modules, PythonPath: c.pythonPath, Preload: c.preload, Env: c.env, MaxFrame: c.maxFrame, RunID: c.runID}
}
