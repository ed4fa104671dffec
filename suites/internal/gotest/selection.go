package gotest

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

// runGinkgo runs the Ginkgo CLI with args (the plain go test package
// testdata/_selected unless they name one), with integration not selected
// by the environment, and waits for it. The CLI is the binary `go tool
// ginkgo` runs, run directly (the process the tests see as their parent is
// the same); its `go test -c` of _selected or of package gotest is answered
// from a binary compiled once, with the same flags (see precompiled.go).
func runGinkgo(env []string, args ...string) *gexec.Session {
	GinkgoHelper()
	if len(args) == 0 || strings.HasPrefix(args[len(args)-1], "-") {
		args = append(args, suite.Rel("gotest", "testdata", "_selected"))
	}
	cli, err := ginkgoCLI()
	Expect(err).NotTo(HaveOccurred(), "finding the Ginkgo CLI")
	shim, err := goShim()
	Expect(err).NotTo(HaveOccurred(), "compiling the packages the Ginkgo CLI runs")
	cmd := exec.Command(cli, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, harness.EnvIntegration+"=") && !strings.HasPrefix(kv, "PATH=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "PATH="+shim+string(os.PathListSeparator)+os.Getenv("PATH"))
	cmd.Env = append(cmd.Env, append([]string{"PYHARNESS_PYTHON=/bin/false", "PYHARNESS_CACHE_DIR=" + GinkgoT().TempDir()}, env...)...)
	s, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	Eventually(s).WithTimeout(3 * time.Minute).Should(gexec.Exit(0))
	return s
}

// Serial: each spec runs the Ginkgo CLI on the same fixture package (a
// binary compiled once per process, which the CLI's build copies); two
// builds of one package at once can fail in the go command's cache ("link:
// cannot open file DO NOT USE - main build pseudo-cache built", seen under
// ginkgo -p in CI).
var _ = describe("one selection rule for Ginkgo suites and gotest packages", harness.PythonMock, Serial, func() {
	DescribeTable("the Ginkgo CLI's label filter selects a gotest package's integration tests as it selects integration specs",
		func(filter string, runs bool, why, how string) {
			var args []string
			if filter != "" {
				args = append(args, "--label-filter="+filter)
			}
			s := runGinkgo(nil, args...)
			out := string(s.Out.Contents())
			Expect(out).To(ContainSubstring("the unit test ran"), "a test that needs no Python runs whatever the filter")
			if runs {
				Expect(out).To(ContainSubstring("the integration test ran"))
				Expect(out).To(ContainSubstring("--- PASS: TestNeedsPython"))
				return
			}
			Expect(out).NotTo(ContainSubstring("the integration test ran"))
			Expect(s.Out).To(gbytes.Say(`selected_test.go:\d+: ` + why))
			Expect(s.Out).To(gbytes.Say(`--- SKIP: TestNeedsPython`))
			Expect(s.Out).To(gbytes.Say(`pyharness: no Python started; 1 integration test\(s\) skipped \(` + how + `\)`))
		},
		Entry("--label-filter=integration runs them", "integration", true, "", ""),
		Entry("a filter is evaluated, not searched: integration && !slow runs them", "integration && !slow", true, "", ""),
		Entry("a filter is evaluated, not searched: !integration skips them, saying why", "!integration", false,
			`needs real Python: the label filter "!integration" does not select the integration label that gotest gives such tests \(--label-filter=integration runs them\)`,
			`--label-filter=integration runs them`),
		Entry("no filter skips them, as it skips integration specs", "", false,
			`needs real Python: run with --label-filter=integration \(or PYHARNESS_INTEGRATION=1\); ginkgo without a label filter runs the others`,
			`--label-filter=integration or PYHARNESS_INTEGRATION=1 runs them`),
	)

	It("runs them under the Ginkgo CLI with PYHARNESS_INTEGRATION=1 and no filter, as it runs integration specs", func() {
		s := runGinkgo([]string{harness.EnvIntegration + "=1"})
		Expect(s.Out).To(gbytes.Say(`the integration test ran`))
	})

	It("does not let PYHARNESS_INTEGRATION=1 override a filter that leaves integration out, as Ginkgo suites do not", func() {
		s := runGinkgo([]string{harness.EnvIntegration + "=1"}, "--label-filter=!integration")
		Expect(string(s.Out.Contents())).NotTo(ContainSubstring("the integration test ran"))
		Expect(s.Out).To(gbytes.Say(`--- SKIP: TestNeedsPython`))
	})

	It("runs package gotest's own tests under ginkgo -r, with no stray 'ginkgo bootstrap' line (a package of Examples without output has no tests to run)", func() {
		s := runGinkgo(nil, "-r", "../gotest") // the repository's gotest, from suites/
		Expect(s.Out).To(gbytes.Say(`--- PASS: TestIntegrationFollowsTheSelectionRule`))
		Expect(string(s.Out.Contents()) + string(s.Err.Contents())).NotTo(ContainSubstring("Found no test suites"))
	})
})
