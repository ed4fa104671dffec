// Package gotest is pyharness for plain `go test` suites, without Ginkgo:
// one warm pool of Python workers per test binary, shared by every test
// binary that `go test ./...` runs in parallel, integration selection, and
// the goroutine and process leak checks of the Ginkgo harness, in the style
// of goleak.VerifyTestMain.
//
//	func TestMain(m *testing.M) {
//		gotest.Main(m, gotest.WithPool(realpy.WithPythonPath("python"), realpy.WithModules("sentiment")))
//	}
//
//	func TestLabels(t *testing.T) {
//		pool := gotest.Pool(t) // skips, saying how to run it, unless integration is selected
//		var label string
//		if err := pool.Call(t.Context(), "label", "great", &label); err != nil {
//			t.Fatal(err)
//		}
//	}
//
// Nothing starts until a test asks for Python: with integration not
// selected, a binary starts no interpreter. The first test that calls Pool
// or Fresh starts (or attaches to) the pool host: a warm zygote found by
// its options (realpy.StartHost), so the test binaries of one `go test
// ./...` share one host. Each binary holds the host for itself and for the
// go command (or the Ginkgo CLI) that runs it; the host ends when the last
// of them has ended, unless reuse is on (PYHARNESS_REUSE=1 or
// realpy.WithReuse(true)), in which case it stays warm for the next run
// until its idle timeout.
//
// Main prints one summary line per binary (`go test -v` shows it) and fails
// the binary, naming what leaked, when a goroutine started during the run
// or a Python process it started outlives the tests.
package gotest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pyharness/pyharness/internal/counts"
	"github.com/pyharness/pyharness/internal/proc"
	"github.com/pyharness/pyharness/internal/realpyx"
	"github.com/pyharness/pyharness/internal/selection"
	"github.com/pyharness/pyharness/isolation/leak"
	"github.com/pyharness/pyharness/realpy"
)

// EnvIntegration selects the tests that need real Python: set it to 1.
const EnvIntegration = selection.EnvIntegration

// EnvRunPid names a process that stands for the whole test run, for a
// runner other than the go command and the Ginkgo CLI (gotestsum, a CI
// script): the binaries hold the pool host for it too, so the host lives
// until it ends. The go command and ginkgo are recognised without it.
const EnvRunPid = "PYHARNESS_RUN_PID"

// SkipMessage is what an integration test says when plain go test skips
// it; under the Ginkgo CLI the message names its label filter instead.
var SkipMessage = selection.Verdict{}.Why()

// Option configures Main.
type Option func(*config)

type config struct {
	pool    []realpy.Option
	ignore  []goleak.Option
	out     io.Writer
	noLeaks bool
}

// WithPool sets the options of the binary's shared pool: realpy's, as for
// harness.NewSharedPool (what starts an interpreter goes to the host, the
// pool options to the binary's pool, WithSize per binary).
// WithStrategy(realpy.Spawn), for modules that are not fork-safe, starts no
// host: the binary spawns its own lazy pool (realpy.WithLazy: one worker up
// front, more only as parallel tests queue for one, up to WithSize).
func WithPool(opts ...realpy.Option) Option {
	return func(c *config) { c.pool = append(c.pool, opts...) }
}

// IgnoreGoroutines tells the end-of-binary goroutine check what to ignore
// (goleak's options), for goroutines a library keeps on purpose.
func IgnoreGoroutines(opts ...goleak.Option) Option {
	return func(c *config) { c.ignore = append(c.ignore, opts...) }
}

// WithOutput sends the summary line (and workers' output) to w instead of
// standard output.
func WithOutput(w io.Writer) Option {
	return func(c *config) { c.out = w }
}

// binary is the state of one test binary: TestMain's, so package-level (as
// testing.M itself is).
type binary struct {
	cfg      config
	baseline *leak.Baseline // the goroutines and processes as the binary starts
	began    time.Time

	mu       sync.Mutex
	started  bool
	startErr error
	host     *realpy.Host
	ctl      *realpy.Zygote
	pool     *realpy.Pool
	warmup   time.Duration
	outcome  string

	skipped atomic.Int64
	fresh   atomic.Int64
}

var current atomic.Pointer[binary]

// Main runs the binary's tests with pyharness and exits: call it from
// TestMain. It fails the binary when a goroutine started during the run,
// or a Python process it started, is left after the tests and the pool are
// done.
func Main(m *testing.M, opts ...Option) {
	os.Exit(Run(m, opts...))
}

// Run is Main without the exit: it returns the binary's exit code.
func Run(m *testing.M, opts ...Option) int {
	b := &binary{cfg: config{out: os.Stdout}, began: time.Now()}
	for _, o := range opts {
		o(&b.cfg)
	}
	baseline, err := leak.Begin()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gotest: the baseline of the end-of-binary leak check:", err)
		return 2
	}
	b.baseline = baseline
	if !current.CompareAndSwap(nil, b) {
		fmt.Fprintln(os.Stderr, "gotest: Main (or Run) called twice in one test binary")
		return 2
	}
	defer current.Store(nil)
	code := m.Run()
	if err := b.finish(); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: pyharness: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

func binaryOf(t testing.TB) *binary {
	t.Helper()
	b := current.Load()
	if b == nil {
		t.Fatal("gotest: this needs gotest.Main in the package's TestMain:\n\tfunc TestMain(m *testing.M) { gotest.Main(m, gotest.WithPool(...)) }")
	}
	return b
}

// Pool returns the binary's shared pool, starting it (or attaching to the
// run's pool host) on first use; t is skipped unless integration is
// selected, and fails if the pool cannot start. Tests may call it in
// parallel. Do not close the pool: Main does, after the last test.
func Pool(t testing.TB) *realpy.Pool {
	t.Helper()
	Integration(t)
	b := binaryOf(t)
	p, err := b.sharedPool()
	if err != nil {
		t.Fatalf("pyharness: the binary's shared pool: %v", err)
	}
	return p
}

// Fresh returns a brand-new worker for t alone, forked from the pool host
// (or spawned, with realpy.Spawn), and closes it when t ends. Use it where a test must not share a worker's Python state.
func Fresh(t testing.TB) *realpy.Worker {
	t.Helper()
	p := Pool(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w, err := p.Fresh(ctx)
	if err != nil {
		t.Fatalf("pyharness: a fresh worker: %v", err)
	}
	binaryOf(t).fresh.Add(1)
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Errorf("pyharness: closing the fresh worker %s: %v", w.ID(), err)
		}
	})
	return w
}

func (b *binary) sharedPool() (*realpy.Pool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.started {
		return b.pool, b.startErr
	}
	b.started = true
	start := time.Now()
	b.pool, b.startErr = b.start(context.Background())
	b.warmup = time.Since(start)
	return b.pool, b.startErr
}

// start starts the binary's pool: on the run's warm host, held for this
// binary and the go command running it unless reuse is on; or, with
// Spawn, spawned by this binary.
func (b *binary) start(ctx context.Context) (*realpy.Pool, error) {
	opts := append([]realpy.Option{realpy.WithOutput(b.cfg.out)}, b.cfg.pool...)
	if strategy, set := realpyx.StrategyOf[realpy.Strategy](opts...); set && strategy == realpy.Spawn {
		b.outcome = "spawned by this binary"
		// Lazy: tests run one at a time unless they call t.Parallel, and a
		// worker started for nothing is an import paid for nothing.
		return realpy.StartPool(ctx, append(opts, realpy.WithLazy())...)
	}
	hostOpts, poolOpts, err := realpyx.SplitShared(realpyx.TargetHost, opts...)
	if err != nil {
		return nil, err
	}
	reuse := realpyx.ReuseOf(opts...)
	// Without reuse, a host of this run only: the warm host a reuse run left
	// is neither attached to (holding it would end it with this run) nor
	// stopped, and the next reuse run finds it warm.
	hostOpts = append(hostOpts, realpy.WithReuse(reuse))
	var host *realpy.Host
	for attempt := 1; ; attempt++ {
		if host, err = realpy.StartHost(ctx, hostOpts...); err != nil {
			return nil, err
		}
		if reuse {
			break
		}
		// Hold the host for this binary and for the go command (or ginkgo)
		// running it: the binaries of one `go test ./...` start and end at
		// different times, and the host must outlive the gaps between them,
		// then end with the last of them. A host whose last holder ended
		// between StartHost's check and this attach has gone, rightly: the
		// next StartHost starts another.
		if b.ctl, err = hold(ctx, host); err == nil {
			break
		}
		if attempt == 3 {
			return nil, err
		}
	}
	b.host = host
	b.outcome = string(host.Outcome)
	if host.Reason != "" {
		b.outcome += ": the previous one " + strings.TrimPrefix(host.Reason, "it ")
	}
	return realpy.StartPool(ctx, append(poolOpts, realpyx.WithZygoteAddr[realpy.Option](host.Addr()))...)
}

// hold attaches to host and holds it for this process and for the test
// runner that started it.
func hold(ctx context.Context, host *realpy.Host) (*realpy.Zygote, error) {
	ctl, err := realpyx.AttachZygote[realpy.Zygote, realpy.Option](ctx, host.Addr())
	if err != nil {
		return nil, err
	}
	holders := []int{os.Getpid()}
	if ppid := os.Getppid(); runByTestRunner(ppid) {
		holders = append(holders, ppid)
	}
	if run, err := strconv.Atoi(os.Getenv(EnvRunPid)); err == nil && run > 0 {
		holders = append(holders, run)
	}
	for _, pid := range holders {
		if err := ctl.Hold(ctx, pid); err != nil {
			_ = ctl.Close()
			return nil, err
		}
	}
	return ctl, nil
}

// runByTestRunner reports whether pid is a command that runs test binaries
// one after another or side by side: the go command (`go test ./...`) or
// the Ginkgo CLI (`ginkgo -r`, which also runs plain go test packages).
func runByTestRunner(pid int) bool {
	st, ok := proc.ReadStat(pid)
	return ok && (st.Comm == "go" || st.Comm == "ginkgo")
}

// finish closes the pool, prints the summary and checks for leaks.
func (b *binary) finish() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var errs []error
	var stats realpy.PoolStats
	if b.pool != nil {
		stats = b.pool.Stats()
		if err := b.pool.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing the shared pool: %w", err))
		}
	}
	if b.ctl != nil {
		if err := b.ctl.Close(); err != nil {
			errs = append(errs, fmt.Errorf("detaching from the pool host: %w", err))
		}
	}
	fmt.Fprintln(b.cfg.out, b.summary(stats))
	errs = append(errs, b.leftAtEnd()...)
	return errors.Join(errs...)
}

func (b *binary) summary(stats realpy.PoolStats) string {
	wall := time.Since(b.began)
	switch {
	case b.startErr != nil:
		return fmt.Sprintf("pyharness: the shared pool did not start: %v", b.startErr)
	case b.pool == nil && b.skipped.Load() > 0:
		return fmt.Sprintf("pyharness: no Python started; %d integration test(s) skipped (%s)", b.skipped.Load(), selection.ForGoTest().HowToRun())
	case b.pool == nil:
		return "pyharness: no Python started"
	}
	host := "none (every worker spawned by this binary)"
	spawned := max(stats.Spawned, counts.WorkersSpawned.Load()) // the pool's and the tests' own (realpy.Start)
	if b.host != nil {
		host = fmt.Sprintf("%d (%s)", b.host.Pid(), b.outcome)
		if b.host.Outcome != realpy.HostReused {
			spawned++ // this binary started the host
		}
	}
	return fmt.Sprintf("pyharness: pool host %s; interpreters: %d spawned, %d forked (%d fresh); warm-up %s of %s (%.1f%%)",
		host, spawned, stats.Forked, b.fresh.Load(), b.warmup.Round(time.Millisecond), wall.Round(time.Millisecond),
		100*b.warmup.Seconds()/wall.Seconds())
}
