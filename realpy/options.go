package realpy

import (
	"io"
	"time"

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
}

// Defaults of the options below.
const (
	DefaultGrace        = 2 * time.Second
	DefaultStartTimeout = 60 * time.Second
	DefaultStderrTail   = 20
)

func newConfig(opts []Option) *config {
	cfg := &config{
		maxFrame:     wire.DefaultMaxFrame,
		grace:        DefaultGrace,
		startTimeout: DefaultStartTimeout,
		stderrTail:   DefaultStderrTail,
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
