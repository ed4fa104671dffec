package pool

import (
	"context"
	"errors"
	"io"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
	. "github.com/onsi/gomega/gstruct"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/realpy"
	"github.com/pyharness/pyharness/suites/internal/suite"
)

// systemPython is Debian's interpreter, with Debian's python3-sklearn,
// -numpy and -scipy (CI installs them).
const systemPython = "/usr/bin/python3"

// sklearnPool is a pool of the OpenMP warm-up module on the system Python.
func sklearnPool(ctx SpecContext, out io.Writer, opts ...realpy.Option) (*realpy.Pool, error) {
	GinkgoHelper()
	opts = append([]realpy.Option{realpy.WithPython(systemPython), realpy.WithPythonPath(testdata()),
		realpy.WithModules("omp_warmup"), realpy.WithOutput(io.MultiWriter(out, GinkgoWriter))}, opts...)
	p, err := realpy.StartPool(ctx, opts...)
	DeferCleanup(p.Close)
	return p, err
}

var rows = map[string]any{"rows": [][]float64{{0.9, 0.9, 0, 0}, {0.1, 0.1, 0, 0}, {0.8, 0.7, 1, 1}}}

// warnings counts the fork-safety warning lines in out.
func warnings(out *gbytes.Buffer) int {
	return strings.Count(string(out.Contents()), "cannot fork safely")
}

var _ = describe("Fork safety on scientific Python", harness.Integration, harness.PythonReal, func() {
	// OMP_NUM_THREADS=2, the user's own: the warm-up fit starts a GNU
	// OpenMP team of two (with the default thread limit of this machine's
	// share of cores it may have one thread only, and fork safely).
	userThreads := realpy.WithEnv("OMP_NUM_THREADS=2")

	It("serves correct answers from a zygote whose module runs an OpenMP fit at import, spawning in place of forks, with one warning naming libgomp", func(ctx SpecContext) {
		out := gbytes.NewBuffer()
		p, err := sklearnPool(ctx, out, realpy.WithStrategy(realpy.ZygoteFork), realpy.WithSize(3), realpy.WithLazy(), userThreads)
		Expect(err).NotTo(HaveOccurred())
		var wg sync.WaitGroup
		answers := make([][]int, 3)
		for i := range answers {
			wg.Add(1)
			go func() {
				defer GinkgoRecover()
				defer wg.Done()
				Expect(p.Call(ctx, "predict", rows, &answers[i])).To(Succeed())
			}()
		}
		wg.Wait()
		Expect(answers).To(HaveEach(Equal([]int{1, 0, 1})))
		// The pool's first worker starts within StartPool, so its
		// EventForkUnsafe comes before a subscription could: the warning
		// line and the stats say the same (ForkStrict's spec checks the
		// typed error's fields).
		Expect(string(out.Contents())).To(MatchRegexp(`cannot fork safely: \d+ thread\(s\) of libgomp \(GNU OpenMP: \S+, loaded by sklearn\.\S+\), started while importing omp_warmup`))
		stats := p.Stats()
		Expect(stats.Forked).To(BeZero(), "no worker was forked")
		Expect(stats.ForkFallbacks).To(BeNumerically(">=", 1))
		Expect(stats.Spawned).To(Equal(1 + stats.ForkFallbacks)) // the zygote, and each worker it spawned
		Expect(stats.ForkUnsafe).To(HavePrefix("libgomp (loaded by sklearn."))
		Expect(warnings(out)).To(Equal(1), "one warning line for the pool, whatever its number of workers:\n%s", out.Contents())
		Expect(string(out.Contents())).To(ContainSubstring("libgomp (GNU OpenMP"))
	}, SpecTimeout(3*time.Minute))

	It("forks the same module when OpenMP is limited to one thread before it loads", func(ctx SpecContext) {
		out := gbytes.NewBuffer()
		p, err := sklearnPool(ctx, out, realpy.WithStrategy(realpy.ZygoteFork), realpy.WithSize(2), realpy.WithEnv("OMP_NUM_THREADS=1"))
		Expect(err).NotTo(HaveOccurred())
		var got []int
		Expect(p.Call(ctx, "predict", rows, &got)).To(Succeed())
		Expect(got).To(Equal([]int{1, 0, 1}))
		Expect(p.Stats().Forked).To(BeEquivalentTo(2))
		Expect([]any{p.Stats().ForkUnsafe, p.Stats().ForkFallbacks, p.Stats().ForkSuspects}).To(Equal([]any{"", int64(0), int64(0)}))
		Expect(warnings(out)).To(BeZero())
	}, SpecTimeout(3*time.Minute))

	It("serves the same module on Spawn, with no warning", func(ctx SpecContext) {
		out := gbytes.NewBuffer()
		p, err := sklearnPool(ctx, out, realpy.WithStrategy(realpy.Spawn), realpy.WithSize(2), userThreads)
		Expect(err).NotTo(HaveOccurred())
		var got []int
		Expect(p.Call(ctx, "predict", rows, &got)).To(Succeed())
		Expect(got).To(Equal([]int{1, 0, 1}))
		Expect([]any{p.Stats().ForkUnsafe, p.Stats().ForkFallbacks, p.Stats().ForkSuspects}).To(Equal([]any{"", int64(0), int64(0)}))
		Expect(warnings(out)).To(BeZero())
	}, SpecTimeout(3*time.Minute))

	It("refuses to fork under ForkStrict with a *ForkUnsafeError naming libgomp and the module", func(ctx SpecContext) {
		out := gbytes.NewBuffer()
		_, err := sklearnPool(ctx, out, realpy.WithStrategy(realpy.ZygoteFork), realpy.WithSize(1), userThreads,
			realpy.WithForkSafety(realpy.ForkStrict))
		var fe *realpy.ForkUnsafeError
		Expect(errors.As(err, &fe)).To(BeTrue(), "got %v", err)
		Expect(fe.Library).To(Equal("libgomp"))
		Expect(fe.Kind).To(Equal("GNU OpenMP"))
		Expect(fe.Module).To(HavePrefix("sklearn."))
		Expect(fe.StartedBy).To(Equal("omp_warmup"))
		Expect(fe.Threads).To(BeNumerically(">=", 1))
		Expect(err.Error()).To(ContainSubstring("OMP_NUM_THREADS=1"), "the error says what to do")
	}, SpecTimeout(3*time.Minute))

	It("refuses an unknown fork-safety policy with an *OptionError", func(ctx SpecContext) {
		_, err := realpy.StartPool(ctx, realpy.WithForkSafety("sometimes"))
		var oe *realpy.OptionError
		Expect(errors.As(err, &oe)).To(BeTrue(), "got %v", err)
		Expect(oe.Option).To(Equal("WithForkSafety"))
	})
})

var _ = describe("A poisoned zygote", harness.Integration, harness.PythonReal, func() {
	It("is taken for suspect when forked workers hang on their first call twice in a row, and the pool spawns instead", func(ctx SpecContext) {
		out := gbytes.NewBuffer()
		p := startPool(ctx, realpy.WithStrategy(realpy.ZygoteFork), realpy.WithSize(1), realpy.WithModules("poison_first_call"),
			realpy.WithOutput(io.MultiWriter(out, GinkgoWriter)), realpy.WithCancelGrace(100*time.Millisecond))
		Expect(p.Stats().ForkUnsafe).To(BeEmpty(), "no thread to see: the check cannot tell")
		sub := p.Subscribe()
		defer sub.Close()
		for i := range 2 {
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err := p.Call(cctx, "work", nil, nil)
			cancel()
			Expect(err).To(MatchError(context.DeadlineExceeded), "forked worker %d hangs", i+1)
			nextEvent(sub, realpy.EventCrashed) // killed: its state is unknown
		}
		suspect := nextEvent(sub, realpy.EventZygoteSuspect)
		Expect(suspect.Cause).To(MatchError(ContainSubstring("2 workers forked from it in a row hung or died on their first call")))
		var got struct {
			Forked bool `json:"forked"`
		}
		Expect(p.Call(ctx, "work", nil, &got)).To(Succeed())
		Expect(got.Forked).To(BeFalse(), "the replacement is a fresh interpreter")
		stats := p.Stats()
		Expect(stats.ForkSuspects).To(BeEquivalentTo(1))
		Expect(stats.ForkFallbacks).To(BeNumerically(">=", 1))
		Expect(strings.Count(string(out.Contents()), "is suspect")).To(Equal(1), "one warning line")
	}, SpecTimeout(3*time.Minute))

	It("is not taken for suspect when the first calls crash on purpose (the worker's fault methods)", func(ctx SpecContext) {
		p := startPool(ctx, realpy.WithStrategy(realpy.ZygoteFork), realpy.WithSize(1))
		sub := p.Subscribe()
		defer sub.Close()
		for range 3 {
			Expect(p.Call(ctx, "crash", map[string]int{"code": 3}, nil)).NotTo(Succeed())
			nextEvent(sub, realpy.EventReplaced)
		}
		Expect(p.Stats().ForkSuspects).To(BeZero())
		Expect(p.Stats().Forked).To(BeEquivalentTo(4))
	}, SpecTimeout(3*time.Minute))
})

var _ = describe("Thread limits", harness.Integration, harness.PythonReal, func() {
	vars := []string{"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"}
	procs := func() int {
		suite, _ := GinkgoConfiguration()
		return suite.ParallelTotal
	}
	share := func(workers int) string {
		return strconv.Itoa(max(1, runtime.NumCPU()/(workers*procs())))
	}
	type threadEnv struct {
		Pid int                `json:"pid"`
		Env map[string]*string `json:"env"`
	}
	seen := func(ctx SpecContext, p *realpy.Pool) []threadEnv {
		GinkgoHelper()
		var got []threadEnv
		for _, w := range p.Workers() {
			var e threadEnv
			Expect(w.Call(ctx, "thread_env", nil, &e)).To(Succeed())
			got = append(got, e)
		}
		Expect(got).To(HaveLen(p.Size()))
		return got
	}

	for _, strategy := range []realpy.Strategy{realpy.Spawn, realpy.ZygoteFork} {
		It("gives every worker max(1, cores / workers on this machine) of each library ("+string(strategy)+")", func(ctx SpecContext) {
			p, err := sklearnPool(ctx, io.Discard, realpy.WithStrategy(strategy), realpy.WithSize(3))
			Expect(err).NotTo(HaveOccurred())
			want := share(3)
			for _, e := range seen(ctx, p) {
				for _, v := range vars {
					Expect(e.Env).To(HaveKeyWithValue(v, PointTo(Equal(want))), "worker %d: %s", e.Pid, v)
				}
			}
			limits := p.Stats().Threads
			Expect(limits.Set).To(Equal(vars))
			Expect(strconv.Itoa(limits.Value)).To(Equal(want))
			Expect(limits.Workers).To(Equal(3 * procs()))
			Expect(limits.Cores).To(Equal(runtime.NumCPU()))
		}, SpecTimeout(3*time.Minute))
	}

	It("keeps the user's own value, and sets none with WithThreadLimits(false)", func(ctx SpecContext) {
		p, err := sklearnPool(ctx, io.Discard, realpy.WithSize(1), realpy.WithEnv("MKL_NUM_THREADS=7"))
		Expect(err).NotTo(HaveOccurred())
		e := seen(ctx, p)[0]
		Expect(e.Env).To(HaveKeyWithValue("MKL_NUM_THREADS", PointTo(Equal("7"))))
		Expect(e.Env).To(HaveKeyWithValue("OMP_NUM_THREADS", PointTo(Equal(share(1)))))
		Expect(p.Stats().Threads.Set).NotTo(ContainElement("MKL_NUM_THREADS"))

		off, err := sklearnPool(ctx, io.Discard, realpy.WithSize(1), realpy.WithThreadLimits(false))
		Expect(err).NotTo(HaveOccurred())
		for _, v := range vars {
			Expect(seen(ctx, off)[0].Env).To(HaveKeyWithValue(v, BeNil()), v)
		}
		Expect(off.Stats().Threads).To(Equal(realpy.ThreadLimits{}))
	}, SpecTimeout(3*time.Minute))
})

var _ = describe("Fork safety through a shared pool under ginkgo -p", harness.Integration, harness.PythonReal, func() {
	It("serves every process's specs from a host that cannot fork, spawning in place of forks, with one warning per process", func() {
		cmd := exec.Command("go", "tool", "ginkgo", "-p", "--procs", "2", "--no-color", suite.Rel("pool", "testdata", "_forksafe"))
		cmd.Env = append(cmd.Environ(), harness.EnvIntegration+"=1", "PYHARNESS_CACHE_DIR="+GinkgoT().TempDir())
		s, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		Eventually(s).WithTimeout(5 * time.Minute).Should(gexec.Exit(0))
		// The host, and 2 processes x 2 workers, every one spawned by the host in place of a fork.
		Expect(s.Out).To(gbytes.Say(`pyharness: 1 pool host\(s\), 2 process\(es\) attached; interpreters: 5 spawned, 0 forked`))
	})
})
