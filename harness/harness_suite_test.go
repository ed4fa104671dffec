package harness

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	. "github.com/onsi/gomega"
	"github.com/pyharness/pyharness/internal/realpyx"
	"github.com/pyharness/pyharness/realpy"
)

func TestHarness(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Harness Suite")
}

func entry(name, value string) types.ReportEntry {
	return types.ReportEntry{Name: name, Value: types.WrapEntryValue(value)}
}

var _ = Describe("The suite summary", func() {
	It("adds up hosts, processes, interpreters and warm-up from report entries", func() {
		report := types.Report{RunTime: 2 * time.Second, SpecReports: types.SpecReports{
			{ReportEntries: types.ReportEntries{entry(entryHost, `{"pid":7,"addr":"/tmp/z.sock","warm_ms":120,"container":true}`)}},
			{ReportEntries: types.ReportEntries{entry(entryStats, `{"process":1,"host_pid":7,"spawned":0,"forked":3,"warmup_ms":150}`)}},
			{ReportEntries: types.ReportEntries{entry(entryStats, `{"process":2,"host_pid":7,"spawned":0,"forked":4,"warmup_ms":50}`)}},
			{ReportEntries: types.ReportEntries{entry("unrelated", "x")}},
		}}
		s := summarize(report, "")
		Expect(s.Hosts).To(Equal(1))
		Expect(s.Containers).To(Equal(1))
		Expect(s.Processes).To(Equal(2))
		Expect(s.HostPids).To(HaveLen(1))
		Expect(s.Spawned).To(Equal(int64(1)), "the host")
		Expect(s.Forked).To(Equal(int64(7)))
		Expect(s.Warmup).To(Equal(200 * time.Millisecond))
		Expect(s.WarmupShare).To(BeNumerically("~", 0.05, 1e-9), "200 ms over 2 processes x 2 s")
		Expect(s.String()).To(ContainSubstring("1 pool host(s), 2 process(es) attached; interpreters: 1 spawned, 7 forked; 1 container(s)"))
		Expect(s.String()).To(ContainSubstring("(5.0%)"))
	})

	It("says when the host could not fork safely, was found poisoned, and what thread limits the workers ran with", func() {
		report := types.Report{RunTime: time.Second, SpecReports: types.SpecReports{
			{ReportEntries: types.ReportEntries{entry(entryHost, `{"pid":7}`)}},
			{ReportEntries: types.ReportEntries{entry(entryStats, `{"process":1,"host_pid":7,"fork_unsafe":"libgomp (loaded by sklearn.utils._openmp_helpers)","fork_fallbacks":4,"threads":"OMP_NUM_THREADS=1 and 4 more (2 cores / 8 workers)"}`)}},
			{ReportEntries: types.ReportEntries{entry(entryStats, `{"process":2,"host_pid":7,"fork_fallbacks":4,"zygote_suspects":1}`)}},
		}}
		s := summarize(report, "")
		Expect(s.ForkFallbacks).To(Equal(int64(8)))
		Expect(s.Suspects).To(Equal(int64(1)))
		Expect(strings.Split(s.String(), "\n")).To(ContainElements(
			"pyharness: 8 worker(s) spawned in place of forks: the pool host cannot fork safely (libgomp (loaded by sklearn.utils._openmp_helpers)); see docs/scientific-python.md",
			"pyharness: pool host found poisoned 1 time(s): forked workers hung or died on their first calls; later workers were spawned",
			"pyharness: thread limits: OMP_NUM_THREADS=1 and 4 more (2 cores / 8 workers)",
		))
		Expect(summarize(types.Report{SpecReports: types.SpecReports{
			{ReportEntries: types.ReportEntries{entry(entryStats, `{"process":1,"host_pid":7,"forked":3}`)}},
		}}, "").String()).NotTo(Or(ContainSubstring("in place of forks"), ContainSubstring("poisoned"), ContainSubstring("thread limits")))
	})

	It("counts two hosts when two processes each started one", func() {
		report := types.Report{SpecReports: types.SpecReports{
			{ReportEntries: types.ReportEntries{entry(entryHost, `{"pid":7}`)}},
			{ReportEntries: types.ReportEntries{entry(entryHost, `{"pid":8}`)}},
		}}
		Expect(summarize(report, "").Hosts).To(Equal(2))
	})

	It("adds up each shared pool of the suite on its own, and names it", func() {
		report := types.Report{RunTime: time.Second, SpecReports: types.SpecReports{
			{ReportEntries: types.ReportEntries{entry(entryHost, `{"pool":"a_test.go:7","pid":7}`)}},
			{ReportEntries: types.ReportEntries{entry(entryHost, `{"pool":"a_test.go:9","pid":9}`)}},
			{ReportEntries: types.ReportEntries{entry(entryStats, `{"pool":"a_test.go:7","process":1,"host_pid":7,"forked":2}`)}},
			{ReportEntries: types.ReportEntries{entry(entryStats, `{"pool":"a_test.go:9","process":1,"host_pid":9,"forked":3}`)}},
			{ReportEntries: types.ReportEntries{entry(entryStats, `{"pool":"a_test.go:9","process":2,"host_pid":9,"forked":1}`)}},
		}}
		a, b := summarize(report, "a_test.go:7"), summarize(report, "a_test.go:9")
		Expect([]int{a.Hosts, a.Processes, len(a.HostPids)}).To(Equal([]int{1, 1, 1}))
		Expect(a.Forked).To(Equal(int64(2)))
		Expect([]int{b.Hosts, b.Processes, len(b.HostPids)}).To(Equal([]int{1, 2, 1}))
		Expect(b.Forked).To(Equal(int64(4)))
		b.Pool = "a_test.go:9"
		Expect(b.String()).To(HavePrefix("pyharness: the shared pool declared at a_test.go:9:\npyharness: 1 pool host(s), 2 process(es) attached"))
	})
})

var _ = Describe("Selection", func() {
	It("selects integration specs with PYHARNESS_INTEGRATION=1", func() {
		GinkgoT().Setenv(EnvIntegration, "1")
		Expect(IntegrationSelected()).To(BeTrue())
		Expect(specSelected([]string{IntegrationLabel})).To(BeTrue())
	})

	It("does not select them without a filter or the variable", func() {
		GinkgoT().Setenv(EnvIntegration, "")
		if GinkgoLabelFilter() == "" {
			Expect(IntegrationSelected()).To(BeFalse())
			Expect(specSelected([]string{IntegrationLabel})).To(BeFalse())
		}
	})

	It("names the backend from the environment", func() {
		GinkgoT().Setenv(EnvBackend, "container")
		Expect(BackendFromEnv()).To(Equal(ContainerBackend))
		GinkgoT().Setenv(EnvBackend, "")
		Expect(BackendFromEnv()).To(Equal(ProcessBackend))
	})
})

var _ = Describe("Splitting a shared pool's options", func() {
	names := func(opts []realpy.Option) []string {
		var out []string
		for _, o := range opts {
			out = append(out, o.String())
		}
		return out
	}

	It("sends interpreter options to the host, pool options to each process, shared ones to both", func() {
		host, pool, spawn, err := plan(ProcessBackend, []realpy.Option{realpy.WithModules("m"), realpy.WithPreload("numpy"),
			realpy.WithSize(3), realpy.WithMaxFrame(1 << 20), realpy.WithStrategy(realpy.ZygoteFork)})
		Expect(err).NotTo(HaveOccurred())
		Expect(spawn).To(BeFalse())
		// WithMachineWorkers: the host's thread limits share the cores
		// between every process's pool (WithSize times Ginkgo's processes).
		Expect(names(host)).To(Equal([]string{"WithModules", "WithPreload", "WithMaxFrame", "WithMachineWorkers"}))
		Expect(names(pool)).To(Equal([]string{"WithSize", "WithMaxFrame"}))
	})

	It("has no host with Spawn: every process spawns its own lazy pool with every option", func() {
		host, pool, spawn, err := plan(ProcessBackend, []realpy.Option{realpy.WithStrategy(realpy.Spawn), realpy.WithModules("m"), realpy.WithSize(2)})
		Expect(err).NotTo(HaveOccurred())
		Expect(spawn).To(BeTrue())
		Expect(host).To(BeEmpty())
		Expect(names(pool)).To(Equal([]string{"WithStrategy", "WithModules", "WithSize", "WithLazy"}))
	})

	It("refuses Spawn on the container backend, saying what to do", func() {
		backends[ContainerBackend] = backendEntry{target: realpyx.TargetContainer} // as harness/containerbackend registers it
		DeferCleanup(func() { delete(backends, ContainerBackend) })
		_, _, _, err := plan(ContainerBackend, []realpy.Option{realpy.WithStrategy(realpy.Spawn)})
		Expect(err).To(MatchError(ContainSubstring("PYHARNESS_BACKEND=process")))
	})

	It("names the import when the container backend is not linked", func() {
		_, _, _, err := plan(ContainerBackend, nil)
		Expect(err).To(MatchError(ContainSubstring(`import _ "github.com/pyharness/pyharness/harness/containerbackend"`)))
		_, _, _, err = plan("kubernetes", nil)
		Expect(err).To(MatchError(ContainSubstring(`unknown backend "kubernetes"`)))
	})

	It("refuses options that apply neither to a host nor to a pool", func() {
		_, _, _, err := plan(ProcessBackend, []realpy.Option{realpyx.WithZygoteAddr[realpy.Option]("/x.sock")})
		Expect(err).To(MatchError(ContainSubstring("WithZygoteAddr")))
		backends[ContainerBackend] = backendEntry{target: realpyx.TargetContainer}
		DeferCleanup(func() { delete(backends, ContainerBackend) })
		_, _, _, err = plan(ContainerBackend, []realpy.Option{realpy.WithDir("/tmp")})
		Expect(err).To(MatchError(ContainSubstring("option WithDir does not apply to container.Run")))
	})
})

var _ = Describe("The skipped-integration note", func() {
	It("counts the specs skipped for want of integration selection only", func() {
		report := types.Report{SpecReports: types.SpecReports{
			{State: types.SpecStateSkipped, Failure: types.Failure{Message: SkipMessage}},
			{State: types.SpecStateSkipped, Failure: types.Failure{Message: SkipMessage}},
			{State: types.SpecStateSkipped, Failure: types.Failure{Message: "skipped for another reason"}},
			{State: types.SpecStatePassed},
		}}
		Expect(skippedIntegration(report)).To(Equal(2))
	})
})

var _ = Describe("The summary of a warm host", func() {
	It("says the host was reused and what that saved, or why it was replaced", func() {
		reused := summarize(types.Report{SpecReports: types.SpecReports{
			{ReportEntries: types.ReportEntries{entry(entryHost, `{"pid":7,"outcome":"reused","saved_ms":2131}`)}},
		}}, "")
		Expect(reused.Spawned).To(BeZero(), "a reused host was not started by this run")
		Expect(reused.String()).To(ContainSubstring("pool host reused, warm from an earlier run: 2.131s of start-up"))
		replaced := summarize(types.Report{SpecReports: types.SpecReports{
			{ReportEntries: types.ReportEntries{entry(entryHost, `{"pid":8,"outcome":"replaced","reason":"/x/helper.py changed since it was imported"}`)}},
		}}, "")
		Expect(replaced.String()).To(ContainSubstring("pool host replaced: /x/helper.py changed"))
	})
})

var _ = Describe("The advice of a spec that finds no shared pool", func() {
	It("names the start failure when the pool did not start, whatever the labels", func() {
		err := fmt.Errorf("starting this process's pool: %w", errors.New("python3: not found"))
		Expect(notStarted([]string{IntegrationLabel}, "integration", err)).To(Equal("the shared pool did not start: starting this process's pool: python3: not found"))
		Expect(notStarted(nil, "", err)).To(HavePrefix("the shared pool did not start: "))
	})
})
