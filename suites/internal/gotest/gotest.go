package gotest

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"

	"github.com/pyharness/pyharness/gotest"
	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/internal/realpyx"
	"github.com/pyharness/pyharness/isolation/leak"
	"github.com/pyharness/pyharness/suites/internal/suite"
)

// The fixture tests of a container's specs run side by side, before its
// first spec (suite.Ahead): those that leave a goroutine wait goleak's
// retries out once, not once each.
var _ = describe("gotest without Python", Ordered, ContinueOnFailure, harness.PythonMock, func() {
	a := suite.NewAhead()
	skipped := a.Add(fixtureCmd("TestPool", "PYHARNESS_PYTHON=/bin/false", gotest.EnvIntegration+"="))
	leakGoroutine := a.Add(fixtureCmd("TestLeakGoroutine"))
	noLeaksGoroutine := a.Add(fixtureCmd("TestNoLeaksCatchesAGoroutine"))
	inParallel := a.Add(fixtureCmd("TestNoLeaksInParallel"))
	contamination := a.Add(fixtureCmd("TestContaminationOfTheEnvironment"))
	noLeaksCall := a.Add(fixtureCmd("TestNoLeaksCatchesACallInFlight"))
	mockCall := a.Add(fixtureCmd("TestMockCatchesACallInFlight"))

	It("skips an integration test saying how to run it, and starts no Python", func() {
		s := skipped.Session()
		Expect(s).To(gexec.Exit(0))
		Expect(s.Out).To(gbytes.Say(regexp.QuoteMeta(gotest.SkipMessage)))
		Expect(s.Out).To(gbytes.Say(`--- SKIP: TestPool`))
		Expect(s.Out).To(gbytes.Say(`pyharness: no Python started; 1 integration test\(s\) skipped`))
	})

	It("fails the binary when a test leaves a goroutine, naming it", func() {
		s := leakGoroutine.Session()
		Expect(s).To(gexec.Exit(1))
		Expect(s.Out).To(gbytes.Say(`--- PASS: TestLeakGoroutine`), "the test itself passed")
		Expect(s.Err).To(gbytes.Say(`FAIL: pyharness: goroutines left running after the tests`))
		Expect(s.Err).To(gbytes.Say(`fixture\.blockForeverInTheBinary`))
	})

	It("fails the test that NoLeaks watches when it leaves a goroutine, naming it", func() {
		s := noLeaksGoroutine.Session()
		Expect(s).To(gexec.Exit(1))
		Expect(s.Out).To(gbytes.Say(`goroutines left by TestNoLeaksCatchesAGoroutine`))
		Expect(s.Out).To(gbytes.Say(`fixture\.blockForeverInTheTest`))
		Expect(s.Out).To(gbytes.Say(`--- FAIL: TestNoLeaksCatchesAGoroutine`))
	})

	It("refuses NoLeaks in a parallel test, through the testing package", func() {
		s := inParallel.Session()
		Expect(s).To(gexec.Exit(2))
		Expect(s.Err).To(gbytes.Say(`can not use t.Parallel`))
	})

	It("fails a contaminating test with a readable diff", func() {
		s := contamination.Session()
		Expect(s).To(gexec.Exit(1))
		Expect(s.Out).To(gbytes.Say(`contamination detected:\s+environment changed:\s+\+ FIXTURE_LEFT_BEHIND=yes`))
		Expect(s.Out).To(gbytes.Say(`--- FAIL: TestContaminationOfTheEnvironment`))
	})

	It("fails the test that NoLeaks watches when it returns with a call in flight, naming the call", func() {
		s := noLeaksCall.Session()
		Expect(s).To(gexec.Exit(1))
		line := lineOf("inflight_test.go", "// the call left in flight")
		Expect(s.Out).To(gbytes.Say(`pyharness: calls still in flight when TestNoLeaksCatchesACallInFlight ended:\s+` +
			regexp.QuoteMeta(`call "predict" still in flight on worker fixture-mock (pid `) + `\d+\), made at \S*inflight_test.go:` + strconv.Itoa(line) + ` by \S*fixture\.TestNoLeaksCatchesACallInFlight\.func2` +
			regexp.QuoteMeta(`: the test ended before its answer came (wait for the call, or end its context, before the test returns)`)))
		Expect(s.Out).To(gbytes.Say(`--- FAIL: TestNoLeaksCatchesACallInFlight`))
	})

	It("fails the test whose mock still has a call in flight when it ends, naming the call", func() {
		s := mockCall.Session()
		Expect(s).To(gexec.Exit(1))
		line := lineOf("inflight_test.go", "// the call on the mock left in flight")
		Expect(s.Out).To(gbytes.Say(`pyharness: TestMockCatchesACallInFlight ended with 1 call\(s\) still in flight on its mock:\s+` +
			regexp.QuoteMeta(`call "predict" still in flight on worker fixture-mock (pid `) + `\d+\), made at \S*inflight_test.go:` + strconv.Itoa(line)))
		Expect(s.Out).To(gbytes.Say(`--- FAIL: TestMockCatchesACallInFlight`))
	})
})

var _ = describe("gotest with Python", Ordered, ContinueOnFailure, harness.Integration, harness.PythonReal, func() {
	selected := gotest.EnvIntegration + "=1"
	a := suite.NewAhead()
	leakWorker := a.Add(fixtureCmd("TestLeakWorker", selected))
	spawnPool := a.Add(fixtureCmd("TestPool", selected, "FIXTURE_POOL=spawn"))
	pythonGlobal := a.Add(fixtureCmd("TestPythonGlobalContamination", selected))

	It("fails the binary when a test leaves a worker running, naming the process", func() {
		s := leakWorker.Session()
		Expect(s).To(gexec.Exit(1))
		Expect(s.Err).To(gbytes.Say(`Python processes left running after the tests:\s+spawned worker \S+ \(pid \d+\), started at \S+fixture_test\.go:\d+`))
		owner := s.Command.Process.Pid // not our child: polling is the only way to see it go
		Eventually(func() ([]leak.Process, error) { return leak.ProcessesOwnedBy(owner) }).Should(BeEmpty(), "the worker ends with its owner")
	})

	It("spawns one worker of a Spawn pool of 3 for a binary whose tests run one at a time (lazy), and no host", func() {
		s := spawnPool.Session()
		Expect(s).To(gexec.Exit(0))
		Expect(s.Out).To(gbytes.Say(`pyharness: pool host none \(every worker spawned by this binary\); interpreters: 1 spawned, 0 forked`))
	})

	It("fails a test that changes the Python state of its fresh worker, with the diff", func() {
		s := pythonGlobal.Session()
		Expect(s).To(gexec.Exit(1))
		Expect(s.Out).To(gbytes.Say(`fixture_handlers\.remembered`))
	})

	It("gives the binaries of one run one pool host, which ends after the run and its last binary", func(ctx SpecContext) {
		cache := GinkgoT().TempDir()
		// The run: a process standing for the go command (PYHARNESS_RUN_PID).
		run := exec.Command("cat")
		runInput, err := run.StdinPipe()
		Expect(err).NotTo(HaveOccurred())
		Expect(run.Start()).To(Succeed())
		DeferCleanup(func() { _ = runInput.Close(); _ = run.Wait() })

		var sessions []*gexec.Session
		for range 3 {
			cmd := exec.Command(fixtureBinary(), "-test.run", "^TestPool$", "-test.v")
			cmd.Dir = fixtureDir
			cmd.Env = append(os.Environ(), "PYHARNESS_CACHE_DIR="+cache, selected, fmt.Sprintf("%s=%d", gotest.EnvRunPid, run.Process.Pid))
			s, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
			Expect(err).NotTo(HaveOccurred())
			sessions = append(sessions, s)
		}
		hosts := map[int]int{}
		started := 0
		line := regexp.MustCompile(`pyharness: pool host (\d+) \((\w+)`)
		for _, s := range sessions {
			Eventually(s).WithTimeout(2 * time.Minute).Should(gexec.Exit(0))
			m := line.FindStringSubmatch(string(s.Out.Contents()))
			Expect(m).NotTo(BeNil(), "the summary line of %s", s.Out.Contents())
			pid, _ := strconv.Atoi(m[1])
			hosts[pid]++
			if m[2] != "reused" {
				started++
			}
		}
		Expect(hosts).To(HaveLen(1), "one pool host for every binary")
		Expect(started).To(Equal(1), "one binary started it, the others attached")
		var host int
		for pid := range hosts {
			host = pid
		}
		Expect(leak.ProcessAlive(host)).To(BeTrue(), "the run still holds the host after its binaries")

		Expect(runInput.Close()).To(Succeed()) // the run ends
		Expect(run.Wait()).To(Succeed())
		Eventually(func() bool { return leak.ProcessAlive(host) }).WithTimeout(10*time.Second).Should(BeFalse(),
			"the host ends once the run and the last binary holding it have")
		GinkgoT().Setenv("PYHARNESS_CACHE_DIR", cache)
		Expect(realpyx.Hosts(ctx)).To(BeEmpty(), "and leaves no record of a host behind")
	})
})
