package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/internal/counts"
	"github.com/pyharness/pyharness/internal/realpyx"
	"github.com/pyharness/pyharness/internal/suitelife"
	"github.com/pyharness/pyharness/realpy"
)

// Report entry names the shared pool records, for the suite summary.
const (
	entryHost  = "pyharness/host"  // process 1 started the pool host
	entryStats = "pyharness/stats" // a process's pool statistics
)

// SharedPool is one warm pool for the whole suite, shared by every parallel
// Ginkgo process: process 1 starts the pool host (a zygote that imports the
// handler modules once), hands its address to every process, and each
// process forks its own workers from it. Cleanup runs once, after all
// processes finish.
//
//	var python = harness.NewSharedPool(realpy.WithSize(2), realpy.WithModules("sentiment"))
//
//	var _ = Describe("sentiment", harness.Integration, func() {
//		It("labels", func(ctx SpecContext) { Expect(python.Pool().Call(ctx, ...)).To(Succeed()) })
//	})
//
// The options are realpy's: those that say how to start an interpreter
// (WithModules, WithPythonPath, WithPreload, WithEnv, ...) go to the host,
// the pool options (WithSize, which is per process, WithHeartbeat, ...) to
// each process's pool, and those that apply to both (WithMaxFrame,
// WithGrace) to both. With WithStrategy(realpy.Spawn), for modules that are
// not fork-safe, there is no host: every process spawns its own pool, lazy
// (realpy.WithLazy): one worker up front, more only as its calls queue.
//
// NewSharedPool takes part in the suite's SynchronizedBeforeSuite and
// SynchronizedAfterSuite, which it shares with every other shared pool of
// the suite, with isolation.VerifyNoLeaks and with any other suite-level
// setup of pyharness's: a suite may declare several shared pools (a zygote
// pool, and a Spawn pool for modules that are not fork-safe), each with its
// own host, started in the order declared and stopped in the reverse
// order. Each pool prints a summary after the suite (ReportAfterSuite):
// interpreters started, warm-up time and its share of the suite, and checks
// that its processes attached to one host. It also proves cleanup: once
// every pool of the process is closed, each process checks with goleak that
// no goroutine started during the suite is left, and once the hosts are
// stopped, process 1 checks that no interpreter it started is left. When
// integration specs are not selected, it starts nothing (and still checks
// goroutines).
type SharedPool struct {
	opts    []realpy.Option
	backend Backend
	at      types.CodeLocation // the user's line that declared the pool: where its end-of-suite failures are placed
	id      string             // at, as file:line: the pool's report entries carry it

	mu       sync.Mutex
	host     Host
	pool     *realpy.Pool
	startErr error // what stopped the pool from starting in this process
	warmup   time.Duration
}

type hostEntry struct {
	Pool      string  `json:"pool,omitempty"` // the pool's declaration, file:line
	Pid       int     `json:"pid"`
	Addr      string  `json:"addr"`
	WarmMS    float64 `json:"warm_ms"`
	Container bool    `json:"container"`
	Outcome   string  `json:"outcome"` // started, reused, replaced
	Reason    string  `json:"reason,omitempty"`
	SavedMS   float64 `json:"saved_ms,omitempty"` // reused: the host's own start-up, not paid again
	Path      string  `json:"path,omitempty"`     // a container: how it is reached and fed, and why
}

// spawnAddr is what process 1 hands the others when there is no host: every
// process spawns its own workers.
const spawnAddr = "spawn:"

// Backend names where a suite's pool host runs.
type Backend string

const (
	// ProcessBackend runs the zygote as a local process.
	ProcessBackend Backend = "process"
	// ContainerBackend runs it in a testcontainer. It is linked into a test
	// binary only by importing package harness/containerbackend, so suites
	// that do not use it compile no Docker client.
	ContainerBackend Backend = "container"
)

// EnvBackend picks the backend of NewSharedPool: process (default) or container.
const EnvBackend = "PYHARNESS_BACKEND"

// BackendFromEnv returns the backend $PYHARNESS_BACKEND names (process by default).
func BackendFromEnv() Backend {
	if b := Backend(os.Getenv(EnvBackend)); b != "" {
		return b
	}
	return ProcessBackend
}

// Host is a running pool host: a zygote that every process of the suite
// forks its workers from.
type Host interface {
	Addr() string                    // where the pools of the processes attach
	Pid() int                        // the zygote's pid, -1 when it is not a local process
	Container() bool                 // whether it runs in a container
	Close(ctx context.Context) error // stops it and returns once it is gone
}

// StartHost starts a pool host with the options that apply to its target.
type StartHost func(ctx context.Context, opts []realpy.Option) (Host, error)

type backendEntry struct {
	target realpyx.Target
	start  StartHost
}

// backends are set at init time only: the process backend here, others by
// the packages that implement them (harness/containerbackend).
var backends = map[Backend]backendEntry{
	ProcessBackend: {realpyx.TargetZygote, startProcessHost},
}

// RegisterBackend makes a backend available to NewSharedPool; call it from
// an init function (package harness/containerbackend does). Its host takes
// the realpy options that apply to a container (container.Run).
func RegisterBackend(b Backend, start StartHost) {
	backends[b] = backendEntry{realpyx.TargetContainer, start}
}

type processHost struct{ z *realpy.Zygote }

func (h processHost) Addr() string                { return h.z.Addr() }
func (h processHost) Pid() int                    { return h.z.Pid() }
func (h processHost) Container() bool             { return false }
func (h processHost) Close(context.Context) error { return h.z.Close() }

// warmHost is a host kept between runs (realpy.StartHost): Close detaches.
type warmHost struct{ h *realpy.Host }

func (w warmHost) Addr() string                { return w.h.Addr() }
func (w warmHost) Pid() int                    { return w.h.Pid() }
func (w warmHost) Container() bool             { return false }
func (w warmHost) Close(context.Context) error { return w.h.Close() }
func (w warmHost) outcome() (string, string, time.Duration) {
	return string(w.h.Outcome), w.h.Reason, w.h.StartTook
}

func startWarmHost(ctx context.Context, opts []realpy.Option) (Host, error) {
	h, err := realpy.StartHost(ctx, opts...)
	if err != nil {
		return nil, err
	}
	return warmHost{h}, nil
}

func startProcessHost(ctx context.Context, opts []realpy.Option) (Host, error) {
	z, err := realpy.StartZygote(ctx, opts...)
	if err != nil {
		return nil, err
	}
	return processHost{z}, nil
}

type statsEntry struct {
	Pool     string  `json:"pool,omitempty"`
	Process  int     `json:"process"`
	HostPid  int     `json:"host_pid"`
	Spawned  int64   `json:"spawned"`
	Forked   int64   `json:"forked"`
	WarmupMS float64 `json:"warmup_ms"`
	// What the pool's zygote could not fork safely, the workers it spawned
	// in place of forks, the times it was found poisoned, and the thread
	// limits its workers run with (realpy.PoolStats.Fork and .Threads).
	ForkUnsafe string `json:"fork_unsafe,omitempty"`
	Fallbacks  int64  `json:"fork_fallbacks,omitempty"`
	Suspects   int64  `json:"zygote_suspects,omitempty"`
	Threads    string `json:"threads,omitempty"`
}

// NewSharedPool registers the suite-level pool on the backend
// $PYHARNESS_BACKEND names; see SharedPool for the options.
func NewSharedPool(opts ...realpy.Option) *SharedPool {
	return NewSharedPoolOn(BackendFromEnv(), opts...)
}

// plan splits the options between the host and each process's pool. With
// Spawn there is no host: every option goes to the pools.
func plan(backend Backend, opts []realpy.Option) (host, pool []realpy.Option, spawn bool, err error) {
	host, pool, spawn, _, err = planStart(backend, opts)
	return host, pool, spawn, err
}

// planStart is plan, and the function that starts the host.
func planStart(backend Backend, opts []realpy.Option) (host, pool []realpy.Option, spawn bool, start StartHost, err error) {
	entry, ok := backends[backend]
	if !ok {
		if backend == ContainerBackend {
			return nil, nil, false, nil, fmt.Errorf("harness: %s=%s, but this test binary does not link the container backend: "+
				"add `import _ \"github.com/pyharness/pyharness/harness/containerbackend\"` to a _test.go file of the suite, or run with %s=%s",
				EnvBackend, backend, EnvBackend, ProcessBackend)
		}
		return nil, nil, false, nil, fmt.Errorf("harness: unknown backend %q (%s): use %q or %q", backend, EnvBackend, ProcessBackend, ContainerBackend)
	}
	if backend == ProcessBackend && realpyx.ReuseOf(opts...) {
		entry = backendEntry{realpyx.TargetHost, startWarmHost}
	}
	if strategy, set := realpyx.StrategyOf[realpy.Strategy](opts...); set && strategy == realpy.Spawn {
		if entry.target == realpyx.TargetContainer {
			return nil, nil, false, nil, fmt.Errorf("harness: WithStrategy(realpy.Spawn) on the %s backend: its workers are forked from one zygote "+
				"in the container; run fork-unsafe modules on the %s backend (%s=%s), where every process spawns its own workers",
				backend, ProcessBackend, EnvBackend, ProcessBackend)
		}
		// Lazy: a Ginkgo process runs one spec at a time, so most need one
		// worker, and a worker started for nothing is an import paid for nothing.
		return nil, append(opts[:len(opts):len(opts)], realpy.WithLazy()), true, nil, realpyx.CheckOptions(realpyx.TargetPool, opts...)
	}
	if host, pool, err = realpyx.SplitShared(entry.target, opts...); err != nil {
		return nil, nil, false, nil, fmt.Errorf("harness: %w", err)
	}
	// The host's thread limits share this machine's cores between every
	// process's pool, not just one (a container's zygote too: it runs here).
	host = append(host, realpyx.WithMachineWorkers[realpy.Option](realpyx.SizeOf(pool...)*suiteProcesses()))
	return host, pool, false, entry.start, nil
}

// NewSharedPoolOn is NewSharedPool on a given backend. On the container
// backend, modules, preloads and WithPythonPath directories are served from
// inside the container (the directories are mounted read-only).
func NewSharedPoolOn(backend Backend, opts ...realpy.Option) *SharedPool {
	sp := &SharedPool{backend: backend, opts: append([]realpy.Option{realpy.WithOutput(prefixedGinkgoWriter())}, opts...),
		at: userLocation()}
	sp.id = fmt.Sprintf("%s:%d", sp.at.FileName, sp.at.LineNumber)
	sharedPools.Add(1)
	registerEndCheck(sp.at)
	suitelife.Add(suitelife.Stage{First: sp.startHost, All: sp.startPool, AfterAll: sp.closePool, AfterFirst: sp.closeHost, Report: sp.report})
	return sp
}

// sharedPools counts the shared pools of this suite: with several, each
// summary names its pool.
var sharedPools atomic.Int32

// startHost runs on process 1: it starts the pool host and returns its
// address (spawnAddr with Spawn, nothing when integration is not selected).
func (sp *SharedPool) startHost(ctx SpecContext) []byte {
	if !IntegrationSelected() {
		return nil
	}
	hostOpts, _, spawn, startHost, err := planStart(sp.backend, sp.opts)
	Expect(err).NotTo(HaveOccurred(), "the shared pool's options")
	if spawn {
		return []byte(spawnAddr)
	}
	start := time.Now()
	host, err := startHost(ctx, hostOpts)
	if host != nil {
		sp.mu.Lock()
		sp.host = host
		sp.mu.Unlock()
		if host.Pid() > 0 {
			suitelife.Keep(host.Pid())
		}
	}
	if err != nil {
		sp.mu.Lock()
		sp.startErr = fmt.Errorf("starting the suite's pool host (%s backend) of the shared pool declared at %s: %w", sp.backend, sp.id, err)
		sp.mu.Unlock()
	}
	Expect(err).NotTo(HaveOccurred(), "starting the suite's pool host (%s backend) of the shared pool declared at %s", sp.backend, sp.id)
	warm := time.Since(start)
	sp.mu.Lock()
	sp.warmup = warm
	sp.mu.Unlock()
	where, _, _ := strings.Cut(host.Addr(), "#") // the report shows where, never the secret
	entry := hostEntry{Pool: sp.id, Pid: host.Pid(), Addr: where, Container: host.Container(), WarmMS: ms(warm), Outcome: "started"}
	if o, ok := host.(interface {
		outcome() (string, string, time.Duration)
	}); ok {
		var saved time.Duration
		entry.Outcome, entry.Reason, saved = o.outcome()
		if entry.Outcome == string(realpy.HostReused) {
			entry.SavedMS = ms(saved)
		}
	}
	if p, ok := host.(interface{ Path() string }); ok {
		entry.Path = p.Path()
	}
	raw, _ := json.Marshal(entry)
	AddReportEntry(entryHost, string(raw), ReportEntryVisibilityNever)
	return []byte(host.Addr())
}

// startPool runs on every process: its pool, attached to the host at addr.
func (sp *SharedPool) startPool(ctx SpecContext, addr []byte) {
	if len(addr) == 0 {
		return
	}
	_, poolOpts, spawn, err := plan(sp.backend, sp.opts)
	Expect(err).NotTo(HaveOccurred(), "the shared pool's options")
	if !spawn {
		poolOpts = append(poolOpts, realpyx.WithZygoteAddr[realpy.Option](string(addr)))
	}
	start := time.Now()
	p, err := realpy.StartPool(ctx, poolOpts...)
	if err != nil {
		p.Close()
		sp.mu.Lock()
		sp.startErr = fmt.Errorf("starting this process's pool: %w", err)
		sp.mu.Unlock()
	}
	Expect(err).NotTo(HaveOccurred(), "starting this process's pool")
	sp.mu.Lock()
	sp.pool = p
	sp.warmup += time.Since(start)
	sp.mu.Unlock()
}

// closePool runs on every process after its specs: it records the pool's
// statistics and closes it.
func (sp *SharedPool) closePool(SpecContext) {
	sp.mu.Lock()
	p, warm := sp.pool, sp.warmup
	sp.mu.Unlock()
	if p == nil {
		return
	}
	stats := p.Stats()
	hostPid := 0
	if z := p.Zygote(); z != nil {
		hostPid = z.Pid()
	}
	// Spawned: every worker this process spawned, the pool's and those the
	// specs started with realpy.Start (counted once, by the first pool).
	spawned := stats.Spawned
	if sp.countsStarts() {
		spawned = max(spawned, counts.WorkersSpawned.Load())
	}
	entry, _ := json.Marshal(statsEntry{Pool: sp.id, Process: GinkgoParallelProcess(), HostPid: hostPid,
		Spawned: spawned, Forked: stats.Forked, WarmupMS: ms(warm),
		ForkUnsafe: stats.ForkUnsafe, Fallbacks: stats.ForkFallbacks, Suspects: stats.ForkSuspects})
	if len(stats.Threads.Set) > 0 {
		var st statsEntry
		_ = json.Unmarshal(entry, &st)
		st.Threads = stats.Threads.String()
		entry, _ = json.Marshal(st)
	}
	AddReportEntry(entryStats, string(entry), ReportEntryVisibilityNever)
	Expect(p.Close()).To(Succeed())
}

// countsStarts reports whether this pool's summary counts the workers specs
// started themselves: with one pool, yes; with several, they are not any
// one pool's, and no pool claims them.
func (sp *SharedPool) countsStarts() bool { return sharedPools.Load() == 1 }

// closeHost runs on process 1 once every process is done: it stops the host.
func (sp *SharedPool) closeHost(ctx SpecContext) {
	sp.mu.Lock()
	host := sp.host
	sp.mu.Unlock()
	if host == nil {
		return
	}
	Expect(host.Close(ctx)).To(Succeed())
	if host.Pid() > 0 {
		suitelife.Release(host.Pid())
	}
}

// report prints this pool's summary and checks that its processes shared
// one host.
func (sp *SharedPool) report(r Report) {
	s := summarize(r, sp.id)
	if s.Hosts == 0 && s.Processes == 0 {
		return
	}
	if sharedPools.Load() > 1 {
		s.Pool = sp.id
	}
	fmt.Fprintln(os.Stdout, "\n"+s.String()) // on a line of its own, not after the progress dots
	if s.Forked == 0 && s.Hosts == 0 {
		return // Spawn: every process started its own workers
	}
	Expect(s.Hosts).To(Equal(1), "one pool host for the whole suite, per shared pool (%s)", sp.id)
	Expect(s.HostPids).To(HaveLen(1), "every process attached to the same pool host (%s)", sp.id)
}

// Pool returns this process's pool, forked from the suite's host. When there
// is none, it fails the spec saying why, and what to change: the spec is
// not labelled harness.Integration (so a run without integration runs it),
// or integration is not selected in this run, or the pool did not start.
func (sp *SharedPool) Pool() *realpy.Pool {
	GinkgoHelper()
	sp.mu.Lock()
	p, startErr := sp.pool, sp.startErr
	sp.mu.Unlock()
	if p == nil {
		Fail(notStarted(CurrentSpecReport().Labels(), GinkgoLabelFilter(), startErr))
	}
	return p
}

// notStarted says why a spec with labels found no shared pool, and the fix.
func notStarted(labels []string, filter string, startErr error) string {
	selected := IntegrationSelected()
	filterText := "no --label-filter"
	if filter != "" {
		filterText = fmt.Sprintf("--label-filter=%q", filter)
	}
	switch {
	case startErr != nil:
		return fmt.Sprintf("the shared pool did not start: %v", startErr)
	case !slices.Contains(labels, IntegrationLabel):
		return fmt.Sprintf("this spec uses the shared pool but is not labelled harness.Integration, so a run that does not select "+
			"integration (%s, %s unset) runs it with no pool: add harness.Integration to the spec or its container "+
			"(and `var _ = harness.SkipUnselectedIntegration()` to the suite, once) so that such runs skip it; "+
			"--label-filter=%s or %s=1 runs it", filterText, EnvIntegration, IntegrationLabel, EnvIntegration)
	case !selected && filter != "" && specSelected(labels):
		return fmt.Sprintf("the shared pool was not started: --label-filter=%q selects this spec, but not the label %s on its own, "+
			"which is what starts the pool: use a filter that does, such as %q, or %s=1",
			filter, IntegrationLabel, "integration && ("+filter+")", EnvIntegration)
	case !selected:
		return fmt.Sprintf("the shared pool was not started: integration is not selected in this run (%s, %s unset), yet this "+
			"integration spec ran: add `var _ = harness.SkipUnselectedIntegration()` to the suite so that such runs skip it; "+
			"--label-filter=%s or %s=1 runs it", filterText, EnvIntegration, IntegrationLabel, EnvIntegration)
	}
	return "the shared pool is not there although integration is selected: Pool() was called outside a spec " +
		"(at tree construction, or before SynchronizedBeforeSuite); call it inside the spec, or in a BeforeEach"
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// suiteProcesses is how many Ginkgo processes run this suite (1 outside
// ginkgo -p).
func suiteProcesses() int {
	suiteConfig, _ := GinkgoConfiguration()
	return max(1, suiteConfig.ParallelTotal)
}
