package realpy

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/pyharness/pyharness/internal/randid"
	"github.com/pyharness/pyharness/internal/realpyx"
	"github.com/pyharness/pyharness/wire"
)

// target names the constructors an option applies to (realpyx.Target):
// every option applies to some only; a constructor given an option that
// does not apply to it returns an *OptionError naming the option and where
// it belongs, never ignoring it (goleak treats misplaced options the same
// way).
type target = realpyx.Target

// The constructors that take options.
const (
	targetWorker       = realpyx.TargetWorker
	targetZygote       = realpyx.TargetZygote
	targetAttach       = realpyx.TargetAttach
	targetPool         = realpyx.TargetPool
	targetAttachedPool = realpyx.TargetAttachedPool
	targetClient       = realpyx.TargetClient
	targetContainer    = realpyx.TargetContainer
	targetHost         = realpyx.TargetHost
)

// Groups of targets, for the options below.
const (
	spawned   = targetWorker | targetZygote | targetPool // an interpreter this process starts and owns
	anyWorker = spawned | targetAttach | targetAttachedPool
	pools     = targetPool | targetAttachedPool
)

// Option configures one of the constructors of this package (or
// container.Run). Options are values: a constructor given one that does
// not apply to it returns an *OptionError naming where it applies.
type Option struct {
	name    string
	targets target
	apply   func(*config)
}

// String returns the option's name, such as "WithSize".
func (o Option) String() string { return o.name }

// appliesTo reports whether the option configures target: how a backend
// splits one list between a pool host and the pools attached to it
// (realpyx.AppliesTo).
func (o Option) appliesTo(target target) bool { return o.targets&target != 0 }

// forkConfig is the fork-safety and thread-limit part of a procConfig.
type forkConfig struct {
	safety         ForkSafety
	threadsOff     bool
	machineWorkers int // workers on this machine at once, when the starter knows (the harness)
	workers        int // workers of this process at once (a pool's size), set by the pool
}

// procConfig is how an interpreter is started and handled once it runs: what
// a worker, a zygote and each worker of a pool are given.
type procConfig struct {
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
	outputLimit  int
	preload      []string
	onSpawn      func(pid int) // set by a pool, to count and announce spawns
	hostIdle     time.Duration // StartHost: how long an unused host lives
	reuse        bool
	callbacks    map[string]wire.Callback
	cancelGrace  time.Duration
	window       int
	concurrency  int        // WithConcurrency: calls in flight per worker (0, 1: one at a time)
	syncThreads  int        // WithSyncThreads: threads for the sync handlers of a multiplexing worker
	fork         forkConfig // fork safety and thread limits (options_forksafe.go)
}

// poolConfig is what only a pool uses.
type poolConfig struct {
	size            int
	overflow        int
	lazy            bool
	pipelining      bool // WithPipelining: a call may be written behind a busy worker's call
	checkoutTimeout time.Duration
	callTimeout     time.Duration
	strategy        Strategy
	strategySet     bool
	heartbeat       time.Duration
	heartbeatMisses int
	affinity        Affinity
	sessionTTL      time.Duration
	maxSessions     int
	breaker         *BreakerSettings
	retries         int
	retryDelay      time.Duration
	clock           clockwork.Clock
	zygoteAddr      string
}

type config struct {
	procConfig
	poolConfig
	invalid error // the first option given a value it cannot take
}

// newConfig checks opts against target and applies them over the defaults.
func newConfig(target target, opts []Option) (*config, error) {
	if err := checkOptions(target, opts...); err != nil {
		return nil, err
	}
	cfg := &config{
		procConfig: procConfig{
			maxFrame:     wire.DefaultMaxFrame,
			grace:        DefaultGrace,
			startTimeout: DefaultStartTimeout,
			stderrTail:   DefaultStderrTail,
		},
		poolConfig: poolConfig{
			size:        DefaultPoolSize,
			strategy:    Spawn,
			affinity:    AffinityHint,
			sessionTTL:  DefaultSessionTTL,
			maxSessions: DefaultMaxSessions,
			clock:       clockwork.NewRealClock(),
		},
	}
	for _, opt := range opts {
		opt.apply(cfg)
	}
	if cfg.invalid != nil {
		return nil, cfg.invalid
	}
	if cfg.syncThreads > 0 && cfg.concurrency <= 1 {
		return nil, optionError("WithSyncThreads", target, 0, fmt.Sprintf("given %d threads without WithConcurrency(n > 1); sync handlers run in threads only on a worker that serves many calls at once", cfg.syncThreads))
	}
	if target == targetPool && len(cfg.preload) > 0 && cfg.strategy != ZygoteFork {
		strategy := "the default strategy, Spawn"
		if cfg.strategySet {
			strategy = fmt.Sprintf("the strategy %q", cfg.strategy)
		}
		return nil, optionError("WithPreload", targetPool, targetZygote|targetPool|targetHost|targetContainer, fmt.Sprintf("given %s with %s; a pool imports preloads once, in its zygote, so it takes WithPreload only with WithStrategy(ZygoteFork) (or import the modules from a handler module)",
			callText("WithPreload", cfg.preload), strategy))
	}
	return cfg, nil
}

// callText renders an option call as the user wrote it: WithPreload("numpy").
func callText(name string, args []string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = strconv.Quote(a)
	}
	return name + "(" + strings.Join(quoted, ", ") + ")"
}

// strategyOf returns the strategy opts choose, and whether one of them
// chooses it (WithStrategy, WithZygoteAddr).
func strategyOf(opts ...Option) (Strategy, bool) {
	cfg := &config{poolConfig: poolConfig{strategy: Spawn}}
	for _, opt := range opts {
		if opt.apply != nil {
			opt.apply(cfg)
		}
	}
	return cfg.strategy, cfg.strategySet
}

// sizeOf returns the pool size opts choose (DefaultPoolSize unless WithSize).
func sizeOf(opts ...Option) int {
	cfg := &config{poolConfig: poolConfig{size: DefaultPoolSize}}
	for _, opt := range opts {
		if opt.apply != nil {
			opt.apply(cfg)
		}
	}
	return cfg.size
}

// startContext finds the interpreter (see WithStartTimeout), then bounds the
// start by WithStartTimeout (a context deadline that comes earlier wins).
func (c *procConfig) startContext(ctx context.Context) (context.Context, context.CancelFunc, error) {
	if _, _, err := findPython(ctx, c.python); err != nil {
		return nil, nil, err
	}
	if c.startTimeout > 0 {
		ctx, cancel := context.WithTimeout(ctx, c.startTimeout)
		return ctx, cancel, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	return ctx, cancel, nil
}

// id returns the configured worker id, or prefix and a random one.
func (c *procConfig) id(prefix string) string {
	if c.workerID != "" {
		return c.workerID
	}
	return prefix + randomID()
}

// randomID returns a short random id, for worker and zygote ids.
func randomID() string { return randid.Hex(4) }

func option(name string, targets target, apply func(*config)) Option {
	return Option{name: name, targets: targets, apply: apply}
}

// WithPython sets the interpreter (a path or a name on PATH), overriding
// $PYHARNESS_PYTHON and python3 on PATH. In a container it names the
// interpreter inside the image.
func WithPython(path string) Option {
	return option("WithPython", spawned|targetHost|targetContainer, func(c *config) { c.python = path })
}

// WithModules names Python modules whose handlers the worker serves
// (--module, repeatable). Each public function of a module becomes a method,
// or the module lists them in a dict named PYHARNESS_METHODS.
func WithModules(modules ...string) Option {
	return option("WithModules", spawned|targetHost|targetContainer, func(c *config) { c.modules = append(c.modules, modules...) })
}

// WithPythonPath adds directories to the interpreter's PYTHONPATH, typically
// where the modules of WithModules live; a relative one is resolved against
// the working directory (go test's: the package's directory). A container
// gets them read-only.
func WithPythonPath(dirs ...string) Option {
	return option("WithPythonPath", spawned|targetHost|targetContainer, func(c *config) { c.pythonPath = append(c.pythonPath, dirs...) })
}

// WithPreload names modules a zygote imports once, before forking workers
// (for instance numpy or a model library), so every forked worker starts
// with them loaded. A pool takes it with WithStrategy(ZygoteFork).
func WithPreload(modules ...string) Option {
	return option("WithPreload", targetZygote|targetPool|targetHost|targetContainer, func(c *config) { c.preload = append(c.preload, modules...) })
}

// WithEnv adds KEY=VALUE entries to the interpreter's environment. A
// PYTHONPATH entry is merged into the interpreter's PYTHONPATH (after the
// worker package and WithPythonPath, before an inherited PYTHONPATH) rather
// than replacing it; the PYHARNESS_* markers cannot be overridden.
func WithEnv(kv ...string) Option {
	return option("WithEnv", spawned|targetHost|targetContainer, func(c *config) { c.env = append(c.env, kv...) })
}

// WithDir sets the interpreter's working directory.
func WithDir(dir string) Option {
	return option("WithDir", spawned|targetHost, func(c *config) { c.dir = dir })
}

// withWorkerSource runs the pyharness_worker package found in dir (for work
// on the worker itself) instead of the copy embedded in the Go module.
func withWorkerSource(dir string) Option {
	return option("WithWorkerSource", spawned|targetHost, func(c *config) { c.workerSource = dir })
}

// withWorkerID sets the id a worker (or zygote) reports; by default a random
// one. A pool names its workers itself.
func withWorkerID(id string) Option {
	return option("WithWorkerID", targetWorker|targetZygote, func(c *config) { c.workerID = id })
}

// withRunID marks the interpreters as belonging to a test run (environment
// and argv), so leftovers of a run can be found and reaped.
func withRunID(id string) Option {
	return option("WithRunID", spawned|targetContainer, func(c *config) { c.runID = id })
}

// WithMaxFrame sets the largest frame payload, in bytes, on both sides,
// from wire.MinMaxFrame (room for any error reply) to wire.MaxFrameLimit;
// another value is an *OptionError.
func WithMaxFrame(n int) Option {
	return option("WithMaxFrame", anyWorker|targetClient|targetHost|targetContainer, func(c *config) {
		if n < wire.MinMaxFrame || n > wire.MaxFrameLimit {
			c.refuse(&OptionError{Option: "WithMaxFrame", Reason: fmt.Sprintf("given %d bytes; it takes %d..%d bytes (wire.MinMaxFrame..wire.MaxFrameLimit)", n, wire.MinMaxFrame, wire.MaxFrameLimit)})
			return
		}
		c.maxFrame = n
	})
}

// positive refuses option's value unless ok (the value is positive), and
// reports ok. given is the value as the user wrote it, accepted what the
// option takes ("a positive duration").
func (c *config) positive(option string, ok bool, given, accepted string) bool {
	if !ok {
		c.refuse(&OptionError{Option: option, Reason: "given " + given + "; it takes " + accepted})
	}
	return ok
}

// refuse records the first option value that cannot be taken.
func (c *config) refuse(err *OptionError) {
	if c.invalid == nil {
		c.invalid = err
	}
}

// WithGrace sets how long Close gives a worker to end by itself before
// SIGKILL (half after the shutdown request and EOF, half after SIGTERM;
// default DefaultGrace), and bounds the other waits of a stop: a kill
// request to a zygote, a worker's output draining, a pool's Close of what
// still waits on its zygote.
func WithGrace(d time.Duration) Option {
	return option("WithGrace", anyWorker, func(c *config) { c.grace = d })
}

// WithStartTimeout bounds a start (of an interpreter, a fork, a container)
// when its context has no earlier deadline. Finding the interpreter is not
// part of it: a version manager's shim is resolved once per process (and
// cached across processes), bounded by the start's context alone.
func WithStartTimeout(d time.Duration) Option {
	return option("WithStartTimeout", spawned|targetAttachedPool|targetHost|targetContainer, func(c *config) { c.startTimeout = d })
}

// WithStderrTail sets how many stderr lines a *wire.WorkerExitedError carries.
func WithStderrTail(lines int) Option {
	return option("WithStderrTail", anyWorker, func(c *config) { c.stderrTail = lines })
}

// WithOutput also copies the workers' stdout and stderr to w (for instance
// GinkgoWriter), each line prefixed with the worker id and stream; they are
// always captured in Worker.Stdout and Worker.Stderr.
func WithOutput(w io.Writer) Option {
	return option("WithOutput", anyWorker, func(c *config) { c.output = w })
}

// WithOutputLimit sets how many bytes of each stream (stdout, stderr) a
// worker keeps in Worker.Stdout and Worker.Stderr: the last n, counting the
// rest in Output.Dropped (default DefaultOutputLimit, 1 MiB). WithOutput's
// writer still sees everything.
func WithOutputLimit(n int) Option {
	return option("WithOutputLimit", anyWorker, func(c *config) {
		if c.positive("WithOutputLimit", n > 0, fmt.Sprintf("%d bytes", n), "a positive number of bytes") {
			c.outputLimit = n
		}
	})
}

// WithCallback registers fn as the Go function Python handlers call by
// name (pyharness_worker.bridge.call_go) during any call of the worker, or
// of the pool's workers. wire.WithCallbacks adds functions for one call.
func WithCallback(name string, fn wire.Callback) Option {
	return option("WithCallback", anyWorker|targetClient, func(c *config) {
		if name == "" || fn == nil {
			fnText := "a function"
			if fn == nil {
				fnText = "a nil function"
			}
			c.refuse(&OptionError{Option: "WithCallback", Reason: fmt.Sprintf("given the name %q and %s; it takes a non-empty name and a non-nil function", name, fnText)})
			return
		}
		if c.callbacks == nil {
			c.callbacks = map[string]wire.Callback{}
		}
		c.callbacks[name] = fn
	})
}

// WithCancelGrace bounds how long a cancelled call (its context ended, or a
// stream left by its loop) may take to end cleanly after $cancel before the
// worker is abandoned as one whose state is unknown (default 250 ms). A
// stream's generator and an async handler end at once; a plain handler
// that runs on past it costs its worker.
func WithCancelGrace(d time.Duration) Option {
	return option("WithCancelGrace", anyWorker|targetClient, func(c *config) {
		if c.positive("WithCancelGrace", d > 0, d.String(), "a positive duration") {
			c.cancelGrace = d
		}
	})
}

// WithConcurrency lets each worker serve up to n calls at once (default 1:
// one at a time). The worker runs async handlers (async def, async
// generators) as tasks on its event loop, up to n at once, replying as
// each ends; sync handlers still run one at a time on the loop's thread,
// and while one runs the tasks wait. A pool counts capacity, not workers:
// it fills a worker up to n calls before it hands out another. A cancelled
// call cancels its own task only. A peer that does not multiplex (an older
// worker) keeps serving one call at a time. n < 1 is an *OptionError.
func WithConcurrency(n int) Option {
	return option("WithConcurrency", anyWorker|targetClient, func(c *config) {
		if c.positive("WithConcurrency", n > 0, strconv.Itoa(n), "a positive number of calls") {
			c.concurrency = n
		}
	})
}

// WithSyncThreads runs the sync handlers (plain def) of a worker started
// with WithConcurrency in up to n threads of their own, so they overlap
// with each other and with the async tasks (calls in threads and tasks
// together stay within the concurrency limit). Without it a sync handler
// runs on the event loop's thread and every task waits while it runs.
// Only for handlers that are thread-safe: nothing runs in a thread unless
// asked. Given without WithConcurrency(n > 1), or n < 1, it is an
// *OptionError.
func WithSyncThreads(n int) Option {
	return option("WithSyncThreads", anyWorker, func(c *config) {
		if c.positive("WithSyncThreads", n > 0, strconv.Itoa(n), "a positive number of threads") {
			c.syncThreads = n
		}
	})
}

// WithStreamWindow sets how many items a stream may send ahead of what the
// loop has taken (default 16): the back-pressure.
func WithStreamWindow(n int) Option {
	return option("WithStreamWindow", anyWorker|targetClient, func(c *config) {
		if c.positive("WithStreamWindow", n > 0, strconv.Itoa(n), "a positive number of items") {
			c.window = n
		}
	})
}

// WithHostIdle sets how long a host of StartHost lives with nobody attached
// (default DefaultHostIdle, or $PYHARNESS_HOST_IDLE as a Go duration).
func WithHostIdle(d time.Duration) Option {
	return option("WithHostIdle", targetHost, func(c *config) {
		if c.positive("WithHostIdle", d > 0, d.String(), "a positive duration") {
			c.hostIdle = d
		}
	})
}

// WithReuse keeps a suite's pool host warm between runs (harness.NewSharedPool
// on the process backend: StartHost), as $PYHARNESS_REUSE=1 does.
func WithReuse(reuse bool) Option {
	return option("WithReuse", targetHost, func(c *config) { c.reuse = reuse })
}

// reuseOf reports whether opts ask for reuse (WithReuse), else whether
// $PYHARNESS_REUSE=1.
func reuseOf(opts ...Option) bool {
	cfg := &config{}
	cfg.reuse = os.Getenv(EnvReuse) == "1"
	for _, opt := range opts {
		if opt.apply != nil && opt.name == "WithReuse" {
			opt.apply(cfg)
		}
	}
	return cfg.reuse
}
