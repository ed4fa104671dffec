package pool

import (
	"os"
	"os/exec"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/suites/internal/suite"
)

var _ = describe("The shared pool's suite summary", harness.Integration, harness.PythonReal, func() {
	It("counts the workers the specs started with realpy.Start among the interpreters spawned", func() {
		cmd := exec.Command("go", "test", "-v", suite.Rel("pool", "testdata", "_summary"), "-count=1", "-args", "-ginkgo.no-color")
		cmd.Env = append(cmd.Environ(), harness.EnvIntegration+"=1", "PYHARNESS_CACHE_DIR="+GinkgoT().TempDir())
		s, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		Eventually(s).WithTimeout(3 * time.Minute).Should(gexec.Exit(0))
		Expect(s.Out).To(gbytes.Say(`pyharness: 1 pool host\(s\), 1 process\(es\) attached; interpreters: 2 spawned, 1 forked`),
			"the host, and the spec's own worker; the pool's one worker was forked")
	})

	It("names, when the pool host cannot start, the line that declared the shared pool and why", func() {
		cmd := exec.Command("go", "test", "-v", suite.Rel("pool", "testdata", "_summary"), "-count=1", "-args", "-ginkgo.no-color")
		cmd.Env = append(cmd.Environ(), harness.EnvIntegration+"=1", "PYHARNESS_CACHE_DIR="+GinkgoT().TempDir(),
			"PYHARNESS_SUMMARY_MODULE=no_such_handlers_module")
		s, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		Eventually(s).WithTimeout(3 * time.Minute).Should(gexec.Exit(1))
		line := lineOf(suite.Testdata("pool", "_summary", "summary_suite_test.go"), "// shared pool: declared here")
		Expect(string(s.Out.Contents())).To(ContainSubstring("starting the suite's pool host (process backend) of the shared pool declared at %s:%d", suite.Testdata("pool", "_summary", "summary_suite_test.go"), line))
		Expect(string(s.Out.Contents())).To(ContainSubstring("No module named 'no_such_handlers_module'"))
	})
})

// lineOf is the number of the first line of file that contains mark.
func lineOf(file, mark string) int {
	GinkgoHelper()
	raw, err := os.ReadFile(file)
	Expect(err).NotTo(HaveOccurred())
	for i, l := range strings.Split(string(raw), "\n") {
		if strings.Contains(l, mark) {
			return i + 1
		}
	}
	Fail("no line of " + file + " contains " + mark)
	return 0
}

var _ = describe("Several shared pools in one suite", harness.Integration, harness.PythonReal, Serial, func() {
	// twoPools runs testdata/_twopools on two Ginkgo processes, with env added.
	twoPools := func(env ...string) *gexec.Session {
		GinkgoHelper()
		cmd := exec.Command("go", "tool", "ginkgo", "-p", "--procs=2", "--no-color", suite.Rel("pool", "testdata", "_twopools"))
		cmd.Env = append(append(cmd.Environ(), harness.EnvIntegration+"=1", "PYHARNESS_CACHE_DIR="+GinkgoT().TempDir()), env...)
		s, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		Eventually(s).WithTimeout(5 * time.Minute).Should(gexec.Exit())
		return s
	}

	It("starts a host for each, attaches every process to both, and summarizes each pool on its own", func() {
		s := twoPools()
		Expect(s).To(gexec.Exit(0), "two shared pools and VerifyNoLeaks in one suite")
		out := string(s.Out.Contents())
		Expect(strings.Count(out, "pyharness: 1 pool host(s), 2 process(es) attached; interpreters: ")).To(Equal(2), out)
		Expect(out).To(MatchRegexp(`pyharness: the shared pool declared at \S*twopools_suite_test.go:29:`))
		Expect(out).To(MatchRegexp(`pyharness: the shared pool declared at \S*twopools_suite_test.go:31:`))
	})

	It("still names, at the end of the suite, a worker left running, and not the pools' hosts", func() {
		s := twoPools("PYHARNESS_TEST_LEAK_AT_END=1")
		Expect(s).To(gexec.Exit(1))
		out := string(s.Out.Contents())
		Expect(out).To(ContainSubstring("pyharness: left running at the end of the suite"))
		Expect(strings.Count(out, "spawned worker")).To(Equal(1), "the BeforeAll's worker, named once:\n%s", out)
		Expect(out).NotTo(ContainSubstring("zygote"), "the pools' hosts are not leaks")
	})
})
