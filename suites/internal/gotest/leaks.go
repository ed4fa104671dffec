package gotest

import (
	"os/exec"
	"regexp"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/pyharness/pyharness/gotest"
	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/isolation/leak"
	"github.com/pyharness/pyharness/suites/internal/suite"
)

// offence is what a leaking fixture test started, and where.
type offence = suite.Offence

// aheadOffence runs fixture test name, which records what it started, as a
// child of a suite.Ahead (before the container's first spec); the spec
// reads its session and the offence with the returned function.
func aheadOffence(a *suite.Ahead, name string) func() (*gexec.Session, offence) {
	return a.AddOffence("FIXTURE_OFFENCE_OUT", func(out string) *exec.Cmd {
		return fixtureCmd(name, gotest.EnvIntegration+"=1", out)()
	})
}

// flatten removes the indentation the testing package gives a message's
// continuation lines.
func flatten(b []byte) string {
	return regexp.MustCompile(`\n[ \t]+`).ReplaceAllString(string(b), "\n")
}

var _ = describe("gotest's leak checks, which know what the binary's pool owns", Ordered, ContinueOnFailure, harness.Integration, harness.PythonReal, func() {
	selected := gotest.EnvIntegration + "=1"
	a := suite.NewAhead()
	thenFresh := a.Add(fixtureCmd("TestNoLeaksThenFresh", selected))
	thenPool := a.Add(fixtureCmd("TestNoLeaksThenPool", selected))
	catchesAWorker := aheadOffence(a, "TestNoLeaksCatchesAWorker")
	catchesAFork := aheadOffence(a, "TestNoLeaksCatchesAFork")
	toTheEnd := aheadOffence(a, "TestLeakWorkerToTheEnd")

	It("passes NoLeaks then Fresh in the first test, which starts the shared pool", func() {
		s := thenFresh.Session()
		Expect(s).To(gexec.Exit(0), "the pool's host and workers are the binary's, not the test's")
		Expect(s.Out.Contents()).To(ContainSubstring("--- PASS: TestNoLeaksThenFresh"))
	})

	It("passes NoLeaks then Pool in the first test", func() {
		s := thenPool.Session()
		Expect(s).To(gexec.Exit(0))
		Expect(s.Out.Contents()).To(ContainSubstring("--- PASS: TestNoLeaksThenPool"))
	})

	noLibraryDump := func(s *gexec.Session) {
		GinkgoHelper()
		out := string(s.Out.Contents()) + string(s.Err.Contents())
		Expect(out).NotTo(ContainSubstring("goroutines left"), "pyharness's goroutines for the worker are folded into its entry")
		Expect(out).NotTo(ContainSubstring("realpy."))
		Expect(out).NotTo(ContainSubstring("Errno 9"))
		Expect(out).NotTo(ContainSubstring("pyharness_worker.zygote"))
	}

	It("names a worker a test started and left, where it started it, and kills it", func() {
		s, o := catchesAWorker()
		Expect(s).To(gexec.Exit(1))
		Expect(flatten(s.Out.Contents())).To(ContainSubstring("pyharness: processes left by TestNoLeaksCatchesAWorker:\nspawned worker %s (pid %d), started at %s; killed by the leak check",
			o.ID, o.Pid, o.Site))
		Expect(s.Err.Contents()).NotTo(ContainSubstring("left running after the tests"), "killed: the end of the binary finds nothing")
		noLibraryDump(s)
		Expect(leak.ProcessAlive(o.Pid)).To(BeFalse())
		Expect(string(s.Out.Contents())).To(MatchRegexp(`\n +leaks_fixture_test\.go:%d: pyharness: processes left by TestNoLeaksCatchesAWorker:`, lineOf("leaks_fixture_test.go", "gotest.NoLeaks(t) // in TestNoLeaksCatchesAWorker")),
			"the failure reads at the test's line that called NoLeaks, not in the library")
	})

	It("names a worker forked from the pool and left, not the pool started in the same test", func() {
		s, o := catchesAFork()
		Expect(s).To(gexec.Exit(1))
		Expect(flatten(s.Out.Contents())).To(ContainSubstring("pyharness: processes left by TestNoLeaksCatchesAFork:\nforked worker %s (pid %d), started at %s; killed by the leak check",
			o.ID, o.Pid, o.Site))
		Expect(s.Err.Contents()).NotTo(ContainSubstring("left running after the tests"))
		noLibraryDump(s)
	})

	It("names a worker left at the end of the binary first, where it was started, with no goroutine dump", func() {
		s, o := toTheEnd()
		Expect(s).To(gexec.Exit(1))
		Expect(flatten(s.Err.Contents())).To(ContainSubstring("FAIL: pyharness: Python processes left running after the tests:\nspawned worker %s (pid %d), started at %s; killed by the leak check",
			o.ID, o.Pid, o.Site))
		noLibraryDump(s)
		Expect(leak.ProcessAlive(o.Pid)).To(BeFalse())
	})
})
