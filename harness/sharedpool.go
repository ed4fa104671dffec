package harness

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"go.uber.org/goleak"

	"github.com/pyharness/pyharness/isolation/leak"
	"github.com/pyharness/pyharness/realpy"
	"github.com/pyharness/pyharness/realpy/container"
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
// NewSharedPool registers the suite's SynchronizedBeforeSuite and
// SynchronizedAfterSuite (a suite has one of each), and a ReportAfterSuite
// summary: interpreters started, warm-up time and its share of the suite.
// It also proves cleanup: after the pools close, each process checks with
// goleak that no goroutine started during the suite is left, and process 1
// checks that no interpreter it started is left. When integration specs are
// not selected, it starts nothing (and still checks goroutines).
type SharedPool struct {
	opts    []realpy.Option
	backend Backend
	ctr     *container.Container

	mu       sync.Mutex
	host     *realpy.Zygote
	pool     *realpy.Pool
	warmup   time.Duration
	baseline goleak.Option
}

type hostEntry struct {
	Pid       int     `json:"pid"`
	Addr      string  `json:"addr"`
	WarmMS    float64 `json:"warm_ms"`
	Container bool    `json:"container"`
}

// Backend says where the pool host runs.
type Backend string

const (
	// ProcessBackend runs the zygote as a local process.
	ProcessBackend Backend = "process"
	// ContainerBackend runs it in a testcontainer (package realpy/container).
	ContainerBackend Backend = "container"
)

// EnvBackend picks the backend of NewSharedPool: process (default) or container.
const EnvBackend = "PYHARNESS_BACKEND"

// BackendFromEnv returns the backend $PYHARNESS_BACKEND names (process by default).
func BackendFromEnv() Backend {
	if Backend(os.Getenv(EnvBackend)) == ContainerBackend {
		return ContainerBackend
	}
	return ProcessBackend
}

type statsEntry struct {
	Process  int     `json:"process"`
	HostPid  int     `json:"host_pid"`
	Spawned  int64   `json:"spawned"`
	Forked   int64   `json:"forked"`
	WarmupMS float64 `json:"warmup_ms"`
}

// NewSharedPool registers the suite-level pool on the backend
// $PYHARNESS_BACKEND names; opts configure the host and each process's pool
// (WithSize is per process).
func NewSharedPool(opts ...realpy.Option) *SharedPool {
	return NewSharedPoolOn(BackendFromEnv(), opts...)
}

// NewSharedPoolOn is NewSharedPool on a given backend. On the container
// backend, modules, preloads and WithPythonPath directories are served from
// inside the container (the directories are mounted read-only).
func NewSharedPoolOn(backend Backend, opts ...realpy.Option) *SharedPool {
	sp := &SharedPool{backend: backend, opts: append([]realpy.Option{realpy.WithOutput(prefixedGinkgoWriter())}, opts...)}
	SynchronizedBeforeSuite(func(ctx SpecContext) []byte {
		if !IntegrationSelected() {
			return nil
		}
		start := time.Now()
		var entry hostEntry
		if sp.backend == ContainerBackend {
			c, err := container.Run(ctx, container.WithSettings(realpy.ResolveOptions(sp.opts...)))
			sp.mu.Lock()
			sp.ctr = c
			sp.mu.Unlock()
			Expect(err).NotTo(HaveOccurred(), "starting the suite's pool host container")
			entry = hostEntry{Addr: c.Addr(), Container: true, Pid: -1}
		} else {
			host, err := realpy.StartZygote(ctx, sp.opts...)
			Expect(err).NotTo(HaveOccurred(), "starting the suite's pool host")
			sp.mu.Lock()
			sp.host = host
			sp.mu.Unlock()
			entry = hostEntry{Pid: host.Pid(), Addr: host.Addr()}
		}
		warm := time.Since(start)
		sp.mu.Lock()
		sp.warmup = warm
		sp.mu.Unlock()
		entry.WarmMS = ms(warm)
		raw, _ := json.Marshal(entry)
		AddReportEntry(entryHost, string(raw), ReportEntryVisibilityNever)
		return []byte(entry.Addr)
	}, func(ctx SpecContext, addr []byte) {
		sp.mu.Lock()
		sp.baseline = goleak.IgnoreCurrent()
		sp.mu.Unlock()
		if len(addr) == 0 {
			return
		}
		start := time.Now()
		p, err := realpy.StartPool(ctx, append(sp.opts, realpy.WithZygoteAddr(string(addr)))...)
		if err != nil && p != nil {
			p.Close()
		}
		Expect(err).NotTo(HaveOccurred(), "attaching to the suite's pool host")
		sp.mu.Lock()
		sp.pool = p
		sp.warmup += time.Since(start)
		sp.mu.Unlock()
	}, NodeTimeout(5*time.Minute))

	SynchronizedAfterSuite(func(ctx SpecContext) {
		sp.mu.Lock()
		p, warm, baseline := sp.pool, sp.warmup, sp.baseline
		sp.mu.Unlock()
		if p != nil {
			stats := p.Stats()
			entry, _ := json.Marshal(statsEntry{Process: GinkgoParallelProcess(), HostPid: p.Zygote().Pid(),
				Spawned: stats.Spawned, Forked: stats.Forked, WarmupMS: ms(warm)})
			AddReportEntry(entryStats, string(entry), ReportEntryVisibilityNever)
			Expect(p.Close()).To(Succeed())
		}
		if baseline != nil {
			Expect(leak.FindLeakedGoroutines(baseline)).To(Succeed(), "goroutines left running at the end of the suite")
		}
	}, func(ctx SpecContext) {
		sp.mu.Lock()
		host, ctr := sp.host, sp.ctr
		sp.mu.Unlock()
		if host != nil {
			Expect(host.Close()).To(Succeed())
		}
		if ctr != nil {
			Expect(ctr.Close(ctx)).To(Succeed())
		}
		Expect(leak.OwnedProcesses()).To(BeEmpty(), "interpreters left running at the end of the suite")
	}, NodeTimeout(5*time.Minute))

	ReportAfterSuite("pyharness summary", func(r Report) {
		s := summarize(r)
		if s.Hosts == 0 && s.Processes == 0 {
			return
		}
		fmt.Fprintln(os.Stdout, s.String())
		Expect(s.Hosts).To(Equal(1), "one pool host for the whole suite")
		Expect(s.HostPids).To(HaveLen(1), "every process attached to the same pool host")
	})
	return sp
}

// Pool returns this process's pool, forked from the suite's host. Calling it
// when integration specs are not selected fails the spec with how to run them.
func (sp *SharedPool) Pool() *realpy.Pool {
	GinkgoHelper()
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.pool == nil {
		Fail("the shared pool was not started: " + SkipMessage)
	}
	return sp.pool
}

// Summary is what ReportAfterSuite prints about a suite's interpreters.
type Summary struct {
	Hosts       int          // pool hosts started (should be 1)
	HostPids    map[int]bool // pool hosts the processes attached to
	Processes   int          // Ginkgo processes that attached
	Spawned     int64        // interpreters started as processes (the host included)
	Forked      int64        // workers forked from the host
	Containers  int          // containers started
	Warmup      time.Duration
	SuiteTime   time.Duration
	WarmupShare float64 // warm-up over suite wall time, summed over processes
}

func summarize(r Report) Summary {
	s := Summary{HostPids: map[int]bool{}, SuiteTime: r.RunTime}
	for _, spec := range r.SpecReports {
		for _, e := range spec.ReportEntries {
			switch e.Name {
			case entryHost:
				var h hostEntry
				if json.Unmarshal([]byte(e.StringRepresentation()), &h) == nil {
					s.Hosts++
					s.Spawned++
					if h.Container {
						s.Containers++
					}
				}
			case entryStats:
				var st statsEntry
				if json.Unmarshal([]byte(e.StringRepresentation()), &st) == nil {
					s.Processes++
					s.HostPids[st.HostPid] = true
					s.Spawned += st.Spawned
					s.Forked += st.Forked
					s.Warmup += time.Duration(st.WarmupMS * float64(time.Millisecond))
				}
			}
		}
	}
	if s.SuiteTime > 0 && s.Processes > 0 {
		s.WarmupShare = float64(s.Warmup) / (float64(s.SuiteTime) * float64(s.Processes))
	}
	return s
}

func (s Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pyharness: %d pool host(s), %d process(es) attached; interpreters: %d spawned, %d forked; %d container(s)\n",
		s.Hosts, s.Processes, s.Spawned, s.Forked, s.Containers)
	fmt.Fprintf(&b, "pyharness: warm-up %v of %v suite wall time per process (%.1f%%)",
		(s.Warmup / time.Duration(max(s.Processes, 1))).Round(time.Millisecond), s.SuiteTime.Round(time.Millisecond), 100*s.WarmupShare)
	return b.String()
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
