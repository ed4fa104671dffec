// Package realpyx is the plumbing between package realpy and pyharness's
// other packages (gotest, harness, the container backend, the CLI, the
// benchmarks): what they need of realpy that a user's test or program does
// not. Nothing here is a promise to users.
package realpyx

import (
	"context"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/pyharness/pyharness/internal/randid"
	"github.com/pyharness/pyharness/internal/supervise"
)

// Target names a constructor of package realpy (or container.Run) that
// takes options. Every option applies to some targets only; a constructor
// given an option that does not apply to it returns an *realpy.OptionError
// naming the option and where it belongs, never ignoring it.
type Target uint16

// The constructors that take options.
const (
	TargetWorker       Target = 1 << iota // Start: one spawned worker
	TargetZygote                          // StartZygote: a fork server this process starts
	TargetAttach                          // attachZygoteWith: a fork server another process started
	TargetPool                            // StartPool: workers spawned, or forked from a zygote of its own
	TargetAttachedPool                    // StartPool with WithZygoteAddr, Container.StartPool: workers forked from a zygote someone else owns
	TargetClient                          // NewClient: the protocol over a connection, no process
	TargetContainer                       // container.Run: a zygote in a container
	TargetHost                            // StartHost: a zygote kept warm between runs
)

var targetNames = []struct {
	t    Target
	name string
}{
	{TargetWorker, "Start"},
	{TargetZygote, "StartZygote"},
	{TargetAttach, "attachZygoteWith"},
	{TargetPool, "StartPool"},
	{TargetAttachedPool, "StartPool with WithZygoteAddr (or Container.StartPool)"},
	{TargetClient, "NewClient"},
	{TargetContainer, "container.Run"},
	{TargetHost, "StartHost"},
}

// String names the constructors, as an OptionError says them.
func (t Target) String() string {
	var names []string
	for _, n := range targetNames {
		if t&n.t != 0 {
			names = append(names, n.name)
		}
	}
	if len(names) == 0 {
		return "nothing"
	}
	return strings.Join(names, ", ")
}

// ZygoteCommand is how to start a zygote where this process does not spawn
// it (a container), built from the same options as StartZygote, so that a
// backend declares none of its own.
type ZygoteCommand struct {
	Python       string        // the interpreter; "" for the target's python3
	Args         []string      // after the interpreter; the backend adds --zygote-id, --run-id and how it listens (--listen PATH or --listen-tcp ADDR)
	Env          []string      // KEY=VALUE entries (WithEnv); the backend adds EnvRunID
	PythonPath   []string      // directories of this machine the interpreter needs on PYTHONPATH (WithPythonPath)
	RunID        string        // WithRunID, or a new one
	StartTimeout time.Duration // WithStartTimeout
}

// ZygoteSecretEnv carries a zygote's secret to it: every connection's first
// frame must carry the same (PROTOCOL.md, Zygote).
const ZygoteSecretEnv = "PYHARNESS_ZYGOTE_SECRET"

// NewZygoteSecret returns a fresh secret for a zygote.
func NewZygoteSecret() string { return randid.Hex(16) }

// Hooks holds the functions of package realpy that only pyharness's own
// packages call; realpy fills it when it is initialised (every caller
// imports realpy for its Option type, so it always is). The generic
// functions below call them with realpy's types: a type that is not
// realpy's panics, which the harness's own tests would show at once.
var Hooks struct {
	SplitShared      any // func(Target, ...realpy.Option) (host, pool []realpy.Option, err error)
	StrategyOf       any // func(...realpy.Option) (realpy.Strategy, bool)
	ReuseOf          any // func(...realpy.Option) bool
	SizeOf           any // func(...realpy.Option) int
	CheckOptions     any // func(Target, ...realpy.Option) error
	AppliesTo        any // func(realpy.Option, Target) bool
	NewZygoteCommand any // func(Target, ...realpy.Option) (*ZygoteCommand, error)
	FindPython       func(ctx context.Context, explicit string) (string, error)
	WithZygoteAddr   any // func(string) realpy.Option
	WithClock        any // func(clockwork.Clock) realpy.Option
	AttachZygote     any // func(context.Context, string, ...realpy.Option) (*realpy.Zygote, error)
	WithWorkerID     any // func(string) realpy.Option
	WithRunID        any // func(string) realpy.Option
	WithWorkerSource any // func(string) realpy.Option
	// WithMachineWorkers: func(int) realpy.Option, how many workers run on
	// this machine at once, for a shared pool host's thread limits.
	WithMachineWorkers any
	WatchPool          any // func(*realpy.Pool) *supervise.Watcher[realpy.Event]
	Hosts              func(ctx context.Context) ([]HostInfo, error)
	StopHosts          func(prefix string) ([]string, error)
}

// HostInfo describes a warm host, for `pyharness hosts`.
type HostInfo struct {
	Dir     string        `json:"dir"`
	Pid     int           `json:"pid"`
	Alive   bool          `json:"alive"`
	Age     time.Duration `json:"age"`
	Idle    time.Duration `json:"idle"`
	Modules []string      `json:"modules"`
	Preload []string      `json:"preload"`
	RSSKiB  int64         `json:"rss_kib"`
	// Record says why the host's record could not be read ("" when it
	// could): such a host is found by its environment, and Stop stops it.
	Record string `json:"record_error,omitempty"`
}

// Hosts lists the warm hosts of this user (of the cache directory,
// $PYHARNESS_CACHE_DIR), for `pyharness hosts`.
func Hosts(ctx context.Context) ([]HostInfo, error) { return Hooks.Hosts(ctx) }

// StopHosts stops the warm hosts whose directory name starts with prefix
// (all of them for ""), and returns the directories it stopped: `pyharness
// stop`, and specs that start from no host.
func StopHosts(prefix string) ([]string, error) { return Hooks.StopHosts(prefix) }

// WithMachineWorkers tells a pool host (StartZygote, StartHost, a
// container) how many workers run on this machine at once (every parallel
// process's pool), which its thread limits share the cores between. O is
// realpy.Option.
func WithMachineWorkers[O any](n int) O { return Hooks.WithMachineWorkers.(func(int) O)(n) }

// SplitShared splits the options of a shared pool (one host, a pool
// attached to it in each test process) between the host, started on target
// (TargetHost, TargetZygote or TargetContainer), and each process's pool.
// WithStrategy is dropped (a shared pool forks: callers handle Spawn before
// splitting), WithReuse too unless the host is a warm host; WithZygoteAddr,
// and an option that applies to neither, are errors.
func SplitShared[T, O any](target T, opts ...O) (host, pool []O, err error) {
	return Hooks.SplitShared.(func(T, ...O) ([]O, []O, error))(target, opts...)
}

// StrategyOf returns the strategy opts choose, and whether one of them
// chooses it (WithStrategy, WithZygoteAddr). S is realpy.Strategy.
func StrategyOf[S, O any](opts ...O) (S, bool) {
	return Hooks.StrategyOf.(func(...O) (S, bool))(opts...)
}

// ReuseOf reports whether opts ask for reuse (WithReuse), else whether
// $PYHARNESS_REUSE=1.
func ReuseOf[O any](opts ...O) bool { return Hooks.ReuseOf.(func(...O) bool)(opts...) }

// SizeOf returns the pool size opts choose (realpy.DefaultPoolSize unless
// WithSize). O is realpy.Option.
func SizeOf[O any](opts ...O) int { return Hooks.SizeOf.(func(...O) int)(opts...) }

// CheckOptions returns an *realpy.OptionError for the first option that does
// not apply to target; backends that take realpy options call it.
func CheckOptions[T, O any](target T, opts ...O) error {
	return Hooks.CheckOptions.(func(T, ...O) error)(target, opts...)
}

// AppliesTo reports whether option o configures target t. O is
// realpy.Option.
func AppliesTo[O any](o O, t Target) bool { return Hooks.AppliesTo.(func(O, Target) bool)(o, t) }

// FindPython returns the interpreter realpy starts when explicit (a path or
// a name on $PATH) is "": $PYHARNESS_PYTHON, else python3; a pyenv or asdf
// shim resolved to the executable it runs. The suites skip on it.
func FindPython(ctx context.Context, explicit string) (string, error) {
	return Hooks.FindPython(ctx, explicit)
}

// WithZygoteAddr makes a pool fork its workers from a zygote another process
// started (Zygote.Addr), instead of starting its own: how a shared pool's
// processes and a container's pools attach. O is realpy.Option.
func WithZygoteAddr[O any](addr string) O { return Hooks.WithZygoteAddr.(func(string) O)(addr) }

// WithClock sets the clock of a pool's breaker and retry delays (a
// clockwork.FakeClock in specs, so nothing sleeps for real). O is
// realpy.Option.
func WithClock[O any](clock clockwork.Clock) O {
	return Hooks.WithClock.(func(clockwork.Clock) O)(clock)
}

// NewZygoteCommand checks opts for target (TargetContainer) and returns the
// command that starts a zygote with those options.
func NewZygoteCommand[T, O any](target T, opts ...O) (*ZygoteCommand, error) {
	return Hooks.NewZygoteCommand.(func(T, ...O) (*ZygoteCommand, error))(target, opts...)
}

// AttachZygote connects to a zygote another process started (its Addr, or
// "tcp:host:port" for one in a container reached over a mapped port), for
// instance the suite-level pool host of parallel Ginkgo processes: Fork then
// forks workers for this process. Close detaches without stopping the
// zygote. Z is realpy.Zygote.
func AttachZygote[Z, O any](ctx context.Context, addr string, opts ...O) (*Z, error) {
	return Hooks.AttachZygote.(func(context.Context, string, ...O) (*Z, error))(ctx, addr, opts...)
}

// WithWorkerID sets the id a worker (or zygote) reports; by default a random
// one. A pool names its workers itself. O is realpy.Option.
func WithWorkerID[O any](id string) O { return Hooks.WithWorkerID.(func(string) O)(id) }

// WithRunID marks the interpreters as belonging to a test run (environment
// and argv), so leftovers of a run can be found and reaped. O is
// realpy.Option.
func WithRunID[O any](id string) O { return Hooks.WithRunID.(func(string) O)(id) }

// WithWorkerSource runs the pyharness_worker package found in dir (for work
// on the worker itself) instead of the copy embedded in the Go module. O is
// realpy.Option.
func WithWorkerSource[O any](dir string) O { return Hooks.WithWorkerSource.(func(string) O)(dir) }

// WatchPool follows a pool's events from now on (P is *realpy.Pool, E
// realpy.Event): the supervision helpers of gotest and isolation wait on it.
func WatchPool[P, E any](p P) *supervise.Watcher[E] {
	return Hooks.WatchPool.(func(P) *supervise.Watcher[E])(p)
}
