package gotest

import (
	"regexp"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/pyharness/pyharness/gotest"
	"github.com/pyharness/pyharness/harness"
)

var _ = describe("gotest.DetectContamination counts the modules handlers import", harness.Integration, harness.PythonReal, func() {
	selected := gotest.EnvIntegration + "=1"

	// testsWorker is the worker the fixture test printed it started.
	testsWorker := func(out []byte) string {
		GinkgoHelper()
		m := regexp.MustCompile(`the test's worker: (\S+ \(pid \d+\))`).FindSubmatch(out)
		Expect(m).NotTo(BeNil(), "the fixture test prints its worker")
		return string(m[1])
	}

	DescribeTable("passes a test whose fresh worker's handler raised once (the traceback's lazy imports are the worker's)",
		func(test string) {
			s := runFixture(test, selected)
			Expect(s).To(gexec.Exit(0), "%s", s.Out.Contents())
			Expect(string(s.Out.Contents())).NotTo(ContainSubstring("contamination detected"))
		},
		Entry("forked from the pool host (gotest.Fresh), a built-in that raises", "TestContaminationFreshWorkerRaisesOnce"),
		Entry("spawned (realpy.Start), a user handler that raises", "TestContaminationStartedWorkerRaisesOnce"),
	)

	It("fails a test whose handler imported a module, naming the test, the module and the worker", func() {
		s := runFixture("TestContaminationImportInAHandler", selected)
		Expect(s).To(gexec.Exit(1))
		out := s.Out.Contents()
		Expect(string(out)).To(MatchRegexp(
			`contamination_imports_test\.go:\d+: pyharness: TestContaminationImportInAHandler: contamination detected:\s+`+
				`Python modules imported by the handlers of worker %s:\s+`+
				`\+ colorsys\s+`+
				`\(a module imported on purpose: IgnoreModules\("colorsys"\) leaves it out\)`, regexp.QuoteMeta(testsWorker(out))))
	})

	It("passes a test whose handler imported only what IgnoreModules names", func() {
		s := runFixture("TestContaminationIgnoredImport", selected)
		Expect(s).To(gexec.Exit(0), "%s", s.Out.Contents())
	})

	It("leaves out exactly the modules IgnoreModules names", func() {
		s := runFixture("TestContaminationIgnoredAndNotIgnoredImports", selected)
		Expect(s).To(gexec.Exit(1))
		out := s.Out.Contents()
		Expect(string(out)).To(MatchRegexp(`Python modules imported by the handlers of worker %s:\s+\+ graphlib\s+\(a module`, regexp.QuoteMeta(testsWorker(out))))
		Expect(string(out)).NotTo(ContainSubstring("+ colorsys"))
	})
})
