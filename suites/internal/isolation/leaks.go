package isolation

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/isolation"
	"github.com/pyharness/pyharness/isolation/leak"
	"github.com/pyharness/pyharness/realpy"
	"github.com/pyharness/pyharness/suites/internal/suite"
)

// offenderEnv names the file where an offending spec of a nested run
// writes what it started (offence), so the outer spec can assert the report
// names it.
const offenderEnv = "PYHARNESS_TEST_OFFENDER_OUT"

// offence is what an offending spec started and where.
type offence = suite.Offence

// here returns the file:line of its caller's line, moved by offset lines.
func here(offset int) string {
	_, file, line, _ := runtime.Caller(1)
	return fmt.Sprintf("%s:%d", file, line+offset)
}

func record(o offence) {
	GinkgoHelper()
	raw, err := json.Marshal(o)
	Expect(err).NotTo(HaveOccurred())
	Expect(os.WriteFile(os.Getenv(offenderEnv), raw, 0o600)).To(Succeed())
}

func workerOpts() []realpy.Option {
	return []realpy.Option{realpy.WithPythonPath(testdata()), realpy.WithModules("cart"), realpy.WithOutput(GinkgoWriter)}
}

// Offending specs of the leak checks, registered only in a nested run.
var _ = func() bool {
	leakedPid := func() int {
		raw, err := os.ReadFile(os.Getenv(offenderEnv))
		Expect(err).NotTo(HaveOccurred())
		var o offence
		Expect(json.Unmarshal(raw, &o)).To(Succeed())
		return o.Pid
	}
	// afterwards is the spec that runs next: the leaked process is gone.
	afterwards := func() {
		It("runs next, with the leaked process gone", func() {
			Expect(leak.ProcessAlive(leakedPid())).To(BeFalse(), "the leak check killed it")
			fmt.Fprintln(os.Stdout, "NEXT SPEC: the leaked process is gone")
		})
	}
	switch nested {
	case "leak-spawned":
		describe("offender", Ordered, ContinueOnFailure, harness.Integration, func() {
			isolation.VerifyNoLeaksPerSpec()
			It("starts a worker and never closes it", func(ctx SpecContext) {
				w, err := realpy.Start(ctx, workerOpts()...)
				site := here(-1)
				Expect(err).NotTo(HaveOccurred())
				record(offence{Kind: "spawned worker", ID: w.ID(), Pid: w.Pid(), Site: site})
			})
			afterwards()
		})
	case "leak-forked":
		describe("offender", Ordered, ContinueOnFailure, harness.Integration, func() {
			isolation.VerifyNoLeaksPerSpec()
			It("forks a fresh worker and never closes it", func(ctx SpecContext) {
				w, err := python.Pool().Fresh(ctx)
				site := here(-1)
				Expect(err).NotTo(HaveOccurred())
				record(offence{Kind: "forked worker", ID: w.ID(), Pid: w.HostPid(), Site: site})
			})
			afterwards()
		})
	case "leak-pool":
		describe("offender", Ordered, ContinueOnFailure, harness.Integration, func() {
			isolation.VerifyNoLeaksPerSpec()
			It("starts a pool and never closes it", func(ctx SpecContext) {
				p, err := realpy.StartPool(ctx, append(workerOpts(), realpy.WithSize(1), realpy.WithStrategy(realpy.Spawn))...)
				site := here(-1)
				Expect(err).NotTo(HaveOccurred())
				w := p.Workers()[0]
				record(offence{Kind: "pool", ID: w.ID(), Pid: w.Pid(), Site: site})
			})
			afterwards()
		})
	case "leak-goroutine":
		describe("offender", func() {
			isolation.VerifyNoLeaksPerSpec()
			It("leaves a goroutine of its own", func() {
				go blockForeverInTheSpec()
				site := here(-1)
				record(offence{Kind: "goroutine", Site: site})
			})
		})
	case "leak-at-end":
		describe("offender", harness.Integration, func() {
			It("starts a worker and never closes it, with no per-spec check", func(ctx SpecContext) {
				w, err := realpy.Start(ctx, workerOpts()...)
				site := here(-1)
				Expect(err).NotTo(HaveOccurred())
				record(offence{Kind: "spawned worker", ID: w.ID(), Pid: w.Pid(), Site: site})
			})
		})
	}
	return true
}()

func blockForeverInTheSpec() { select {} }

// flat is a nested run's output with the indentation Ginkgo adds to a
// failure's lines removed.
func flat(s *gexec.Session) string {
	return regexp.MustCompile(`\n[ \t]+`).ReplaceAllString(string(s.Out.Contents()), "\n")
}

// runOffender runs the nested offender name and returns its session and what it started.
func runOffender(name string, env ...string) (*gexec.Session, offence) {
	GinkgoHelper()
	out := filepath.Join(GinkgoT().TempDir(), "offence.json")
	s := runNested(name, append(env, offenderEnv+"="+out)...)
	return s, suite.ReadOffence(s, out)
}

// aheadOffender is runOffender for a child of a suite.Ahead: the nested
// offender runs before the container's first spec, beside the others.
func aheadOffender(a *suite.Ahead, name string, env ...string) func() (*gexec.Session, offence) {
	return a.AddOffence(offenderEnv, func(out string) *exec.Cmd {
		return nestedCmd(name, append(env, out)...)
	})
}

var _ = describe("Leak checks that know what the pool owns", func() {
	if nested != "" {
		return
	}

	// Correct specs of supervision: each kills a worker and waits for the
	// pool to heal. The replacement is the pool's, never the spec's leak.
	// The per-spec check sits outside the pools' Ordered containers, as a
	// suite's top-level VerifyNoLeaks does: what their BeforeAll starts is
	// the container's, not its first spec's.
	Describe("with the per-spec leak check", func() {
		isolation.VerifyNoLeaksPerSpec()

		healing := func(pool func() *realpy.Pool) {
			mode := isolation.SupervisionTesting(pool)
			It("passes after a worker is killed, replaced, and the pool called again", func(ctx SpecContext) {
				w := pool().Workers()[0]
				old := mode.KillWorker(w)
				_, err := mode.WaitForRestart(ctx, old)
				Expect(err).NotTo(HaveOccurred())
				Expect(mode.BackToSize(ctx)).To(Succeed())
				Expect(pool().Call(ctx, "remember", "after the restart", nil)).To(Succeed())
			}, SpecTimeout(time.Minute))
		}

		Describe("supervision on a spawn pool", Ordered, harness.Integration, func() {
			pool := isolation.PoolTesting(append(workerOpts(), realpy.WithSize(2), realpy.WithStrategy(realpy.Spawn))...)
			healing(pool.Pool)
			It("passes a second spec on the same pool", func(ctx SpecContext) {
				Expect(pool.Pool().Call(ctx, "remember", "again", nil)).To(Succeed())
			})
		})

		Describe("supervision on a zygote pool", Ordered, harness.Integration, func() {
			pool := isolation.PoolTesting(append(workerOpts(), realpy.WithSize(2), realpy.WithStrategy(realpy.ZygoteFork))...)
			healing(pool.Pool)
		})

		Describe("supervision on the suite's shared pool", harness.Integration, func() {
			healing(func() *realpy.Pool { return python.Pool() })
		})

		It("passes a spec that starts a pool and closes it", harness.Integration, func(ctx SpecContext) {
			p, err := realpy.StartPool(ctx, append(workerOpts(), realpy.WithSize(1))...)
			DeferCleanup(p.Close)
			Expect(err).NotTo(HaveOccurred())
			Expect(p.Call(ctx, "remember", "x", nil)).To(Succeed())
		})
	})

	noLibraryDump := func(s *gexec.Session) {
		GinkgoHelper()
		out := string(s.Out.Contents()) + string(s.Err.Contents())
		Expect(out).NotTo(ContainSubstring("realpy."), "no goroutine of pyharness's internals in the report")
		Expect(out).NotTo(ContainSubstring("Errno 9"))
		Expect(out).NotTo(ContainSubstring("pyharness_worker.zygote"), "a forked worker is named by its id, not its zygote's argv")
		Expect(out).NotTo(MatchRegexp(`In \[[^]]*\] at: \S*(isolation/verify|harness/leaks|harness/sharedpool)\.go:`),
			"the failure is placed at the user's line, not in the library")
		Expect(out).To(MatchRegexp(`In \[[^]]*\] at: \S*/suites/internal/isolation/[a-z_]+\.go:\d+`),
			"the failure is placed at the user's line: the spec, or the line that declared the check")
	}

	// The offenders that start Python run side by side, before the first
	// of these specs (suite.Ahead).
	Describe("offenders on real Python (nested runs)", Ordered, ContinueOnFailure, harness.Integration, func() {
		a := suite.NewAhead()
		spawned := aheadOffender(a, "leak-spawned", "PYHARNESS_INTEGRATION=1")
		forked := aheadOffender(a, "leak-forked", "PYHARNESS_INTEGRATION=1")
		leakedPool := aheadOffender(a, "leak-pool", "PYHARNESS_INTEGRATION=1")
		atEnd := aheadOffender(a, "leak-at-end", "PYHARNESS_INTEGRATION=1")

		It("names a leaked realpy.Start worker, where the spec started it, and kills it", func() {
			s, o := spawned()
			Expect(s).To(gexec.Exit(1))
			Expect(flat(s)).To(ContainSubstring("pyharness: the spec left running:\nspawned worker %s (pid %d), started at %s; killed by the leak check", o.ID, o.Pid, o.Site))
			Expect(s.Out.Contents()).To(ContainSubstring("NEXT SPEC: the leaked process is gone"))
			noLibraryDump(s)
			Expect(leak.ProcessAlive(o.Pid)).To(BeFalse())
		})

		It("names a leaked forked worker by its id and pid, not its zygote's command line, and kills it", func() {
			s, o := forked()
			Expect(s).To(gexec.Exit(1))
			pid := fmt.Sprintf(" (pid %d)", o.Pid)
			if o.Pid == 0 {
				pid = "" // forked inside a container (PYHARNESS_BACKEND=container): its pid is not visible here
			}
			Expect(flat(s)).To(ContainSubstring("pyharness: the spec left running:\nforked worker %s%s, started at %s; killed by the leak check", o.ID, pid, o.Site))
			Expect(s.Out.Contents()).To(ContainSubstring("NEXT SPEC: the leaked process is gone"))
			noLibraryDump(s)
		})

		It("names a leaked pool, its workers and where the spec started it, and closes it", func() {
			s, o := leakedPool()
			Expect(s).To(gexec.Exit(1))
			Expect(flat(s)).To(MatchRegexp(`pyharness: the spec left running:\npool run-[0-9a-f]+ \(spawn, 1 of 1 workers: %s pid %d\), started at %s; killed by the leak check`,
				regexp.QuoteMeta(o.ID), o.Pid, regexp.QuoteMeta(o.Site)))
			Expect(s.Out.Contents()).To(ContainSubstring("NEXT SPEC: the leaked process is gone"))
			noLibraryDump(s)
		})

		It("names a worker left at the end of the suite first, with where it was started, and no goroutine dump", func() {
			s, o := atEnd()
			Expect(s).To(gexec.Exit(1))
			Expect(flat(s)).To(ContainSubstring("pyharness: left running at the end of the suite:\nspawned worker %s (pid %d), started at %s; killed by the leak check", o.ID, o.Pid, o.Site))
			noLibraryDump(s)
			Expect(leak.ProcessAlive(o.Pid)).To(BeFalse())
		})
	})

	It("names a goroutine of the spec's own, goleak style, with where it was created", func() {
		s, o := runOffender("leak-goroutine")
		Expect(s).To(gexec.Exit(1))
		Expect(flat(s)).To(MatchRegexp(`pyharness: the spec left running:\ngoroutine \d+ \[select \(no cases\)\], created at %s by \S*isolation\.[^\n]+:\n[^\n]*isolation\.blockForeverInTheSpec\(\)\n[^\n]*leaks\.go:\d+`,
			regexp.QuoteMeta(o.Site)))
	})
})

var _ = describe("The per-spec check, through its API", harness.Integration, func() {
	if nested != "" {
		return
	}
	It("names a leaked worker and folds pyharness's goroutines for it into that entry", func(ctx SpecContext) {
		baseline, err := leak.Begin()
		Expect(err).NotTo(HaveOccurred())
		w, err := realpy.Start(ctx, workerOpts()...)
		site := here(-1)
		Expect(err).NotTo(HaveOccurred())
		err = baseline.Check("left by the spec")
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(MatchRegexp(`^left by the spec:\n  spawned worker %s \(pid %d\), started at %s; killed by the leak check, with the \d+ goroutine\(s\) pyharness ran for it$`,
			regexp.QuoteMeta(w.ID()), w.Pid(), regexp.QuoteMeta(site)), "one entry, and no goroutine of the worker's apart")
		r := err.(*leak.Report)
		Expect(r.Leaks).To(ConsistOf(HaveField("Folded", BeNumerically(">=", 2))), "its reaper and its protocol reader at least")
		Expect(w.Exited()).To(BeClosed())
	})

	It("names a zygote the spec started and left, and kills it with its forks", func(ctx SpecContext) {
		baseline, err := leak.Begin()
		Expect(err).NotTo(HaveOccurred())
		z, err := realpy.StartZygote(ctx, workerOpts()...)
		site := here(-1)
		Expect(err).NotTo(HaveOccurred())
		w, err := z.Fork(ctx)
		forkSite := here(-1)
		Expect(err).NotTo(HaveOccurred())
		err = baseline.Check("left by the spec")
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(MatchRegexp(`^left by the spec:\n  zygote %s \(pid %d\), started at %s; killed by the leak check[^\n]*\n  forked worker %s \(pid %d\), started at %s; killed by the leak check[^\n]*$`,
			regexp.QuoteMeta(z.ID()), z.Pid(), regexp.QuoteMeta(site), regexp.QuoteMeta(w.ID()), w.Pid(), regexp.QuoteMeta(forkSite)))
		Expect(z.Exited()).To(BeClosed())
		Expect(w.Exited()).To(BeClosed())
	})

	It("names the spec's own goroutines after the worker", func(ctx SpecContext) {
		baseline, err := leak.Begin()
		Expect(err).NotTo(HaveOccurred())
		w, err := realpy.Start(ctx, workerOpts()...)
		Expect(err).NotTo(HaveOccurred())
		stop := make(chan struct{})
		defer close(stop)
		go func() { <-stop }()
		site := here(-1)
		err = baseline.Check("left by the spec")
		Expect(err).To(HaveOccurred())
		r := err.(*leak.Report)
		Expect(r.Leaks).To(HaveLen(2), err.Error())
		Expect(r.Leaks[0]).To(And(HaveField("Kind", "spawned worker"), HaveField("ID", w.ID())))
		Expect(r.Leaks[1]).To(And(HaveField("Kind", "goroutine"), HaveField("Site", site), HaveField("Library", false)))
	})
})

var _ = describe("isolation.VerifyNoLeaks at the end of a suite", harness.Integration, func() {
	if nested != "" {
		return
	}
	It("names a worker left to the end first, with where it was started, and kills it", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		bin := filepath.Join(dir, "verify.test")
		build := exec.CommandContext(ctx, "go", "test", "-c", "-o", bin, suite.Rel("isolation", "testdata", "_verifysuite"))
		build.Stdout, build.Stderr = GinkgoWriter, GinkgoWriter
		Expect(build.Run()).To(Succeed(), "compiling the fixture suite")
		out := filepath.Join(dir, "offence.json")
		cmd := exec.Command(bin, "-ginkgo.no-color")
		cmd.Env = append(os.Environ(), "VERIFY_OFFENCE_OUT="+out)
		s, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		Eventually(s).WithTimeout(2 * time.Minute).Should(gexec.Exit(1))
		raw, err := os.ReadFile(out)
		Expect(err).NotTo(HaveOccurred())
		var o offence
		Expect(json.Unmarshal(raw, &o)).To(Succeed())
		Expect(flat(s)).To(ContainSubstring("[DeferCleanup (Suite)] [FAILED]"), "the end-of-suite report")
		Expect(flat(s)).To(MatchRegexp(`In \[DeferCleanup \(Suite\)\] at: \S*/_verifysuite/verify_suite_test\.go:%d `, lineOfFile(suite.Rel("isolation", "testdata/_verifysuite/verify_suite_test.go"), "isolation.VerifyNoLeaks()")),
			"placed at the suite's line that asked for the check, not in the library")
		Expect(flat(s)).To(ContainSubstring("pyharness: left running at the end of the suite:\nspawned worker %s (pid %d), started at %s; killed by the leak check", o.ID, o.Pid, o.Site))
		Expect(leak.ProcessAlive(o.Pid)).To(BeFalse())
	}, SpecTimeout(5*time.Minute))
})

// lineOfFile returns the number of the first line of file that ends with mark.
func lineOfFile(file, mark string) int {
	GinkgoHelper()
	raw, err := os.ReadFile(file)
	Expect(err).NotTo(HaveOccurred())
	for i, l := range strings.Split(string(raw), "\n") {
		if strings.HasSuffix(l, mark) {
			return i + 1
		}
	}
	Fail(fmt.Sprintf("no line of %s ends with %q", file, mark))
	return 0
}
