package pool

import (
	"os"
	"os/exec"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/internal/suitelife"
	"github.com/pyharness/pyharness/suites/internal/suite"
)

// adviceBuild is testdata/_advice's test binary, compiled once per process
// (its specs are Serial: they run on process 1): in the background from the
// pool stage's Start when this run's label filter can select the specs,
// else by the first spec that runs it; removed at the end of the suite.
var adviceBuild = suite.GoBuild("advice.test", "test", "-c", suite.Rel("pool", "testdata", "_advice"))

var _ = suite.Stage("pool", suitelife.Stage{
	Start: func(SpecContext) {
		if harness.PythonMock.MatchesLabelFilter(GinkgoLabelFilter()) {
			adviceBuild.Start()
		}
	},
	AfterAll: func(SpecContext) { Expect(adviceBuild.Remove()).To(Succeed()) },
})

// Serial: the specs run a binary compiled once per process; two builds of
// one package at once can fail in the go command's cache (as the gotest
// suite's selection specs did under ginkgo -p).
var _ = describe("The advice of a spec that finds no shared pool", harness.PythonMock, Serial, func() {
	// advice runs the specs of testdata/_advice that match focus (with args
	// for the suite) where integration is not selected, and returns what
	// the suite printed.
	advice := func(focus string, args ...string) string {
		GinkgoHelper()
		bin, err := adviceBuild.Wait()
		Expect(err).NotTo(HaveOccurred(), "compiling testdata/_advice")
		cmd := exec.Command(bin, append([]string{"-ginkgo.no-color", "-ginkgo.focus=" + focus}, args...)...)
		cmd.Dir = suite.Rel("pool", "testdata", "_advice") // where go test would run it
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, harness.EnvIntegration+"=") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env, "PYHARNESS_PYTHON=/bin/false", "PYHARNESS_CACHE_DIR="+GinkgoT().TempDir())
		s, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		Eventually(s).WithTimeout(3*time.Minute).Should(gexec.Exit(1), "its specs fail on purpose")
		return string(s.Out.Contents())
	}

	It("says the spec is not labelled harness.Integration, at the spec's line, and how to label it", func() {
		out := advice("forgot the label")
		Expect(out).To(MatchRegexp(`\[FAILED\] this spec uses the shared pool but is not labelled harness.Integration, so a run that does not select integration ` +
			`\(no --label-filter, PYHARNESS_INTEGRATION unset\) runs it with no pool: add harness.Integration to the spec or its container`))
		Expect(out).To(ContainSubstring("var _ = harness.SkipUnselectedIntegration()"))
		Expect(out).To(MatchRegexp(`In \[It\] at: .*advice_suite_test.go:25`), "at the user's line")
	})

	It("says integration is not selected in this run when a labelled spec runs anyway, and how to skip it", func() {
		out := advice("integration is not selected")
		Expect(out).To(ContainSubstring("[FAILED] the shared pool was not started: integration is not selected in this run " +
			"(no --label-filter, PYHARNESS_INTEGRATION unset), yet this integration spec ran: add `var _ = harness.SkipUnselectedIntegration()` to the suite"))
		Expect(out).NotTo(ContainSubstring("not labelled"))
	})

	It("says which filter selected the spec but not integration, and the filter that would", func() {
		out := advice("does not select integration alone", "-ginkgo.label-filter=python:real")
		Expect(out).To(ContainSubstring(`[FAILED] the shared pool was not started: --label-filter="python:real" selects this spec, ` +
			`but not the label integration on its own, which is what starts the pool: use a filter that does, such as "integration && (python:real)"`))
	})

})
