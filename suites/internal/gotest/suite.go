package gotest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/pyharness/pyharness/internal/suitelife"
	"github.com/pyharness/pyharness/isolation"
	"github.com/pyharness/pyharness/suites/internal/suite"
)

// gotest as its users meet it: a compiled test binary (testdata/_fixture)
// whose tests leak, contaminate, skip or share a pool host, run one test at
// a time, and what the binary then reports and exits with. Every spec
// leaves no goroutine and no interpreter running.
func describe(text string, args ...any) bool {
	return suite.Describe("gotest", func() { isolation.VerifyNoLeaksPerSpec() }, text, args...)
}

// fixture is the compiled fixture binary; fixtureDir is where it runs.
var fixture, fixtureDir string

// build compiles the fixture's test binary once (process 1), in the
// background (suite.Build).
var build = suite.GoBuild("fixture.test", "test", "-c", suite.Rel("gotest", "testdata", "_fixture"))

var _ = suite.Stage("gotest", suitelife.Stage{
	Start: func(SpecContext) { build.Start(); startSelected() },
	First: func(SpecContext) []byte { return build.Handoff() },
	All: func(_ SpecContext, bin []byte) {
		fixture = string(bin)
		var err error
		fixtureDir, err = filepath.Abs(suite.Rel("gotest", "testdata", "_fixture"))
		Expect(err).NotTo(HaveOccurred())
	},
	AfterAll:   func(SpecContext) { Expect(removeSelected()).To(Succeed()) },
	AfterFirst: func(SpecContext) { Expect(build.Remove()).To(Succeed()) },
})

// fixtureBinary is the fixture binary, once built.
func fixtureBinary() string {
	GinkgoHelper()
	return build.Binary(fixture)
}

// runFixture runs one test of the fixture binary (-test.run ^name$ -test.v)
// with env added, in its own cache directory, and waits for it to exit.
func runFixture(name string, env ...string) *gexec.Session {
	GinkgoHelper()
	session, err := gexec.Start(fixtureCmd(name, env...)(), GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	Eventually(session).WithTimeout(2 * time.Minute).Should(gexec.Exit())
	return session
}

// fixtureCmd is the command of runFixture, built when it is called (in an
// Ordered container's BeforeAll for suite.Ahead: the cache directory is then
// the container's).
func fixtureCmd(name string, env ...string) func() *exec.Cmd {
	return func() *exec.Cmd {
		GinkgoHelper()
		cmd := exec.Command(fixtureBinary(), "-test.run", "^"+name+"$", "-test.v")
		cmd.Dir = fixtureDir
		cmd.Env = append(os.Environ(), append([]string{"PYHARNESS_CACHE_DIR=" + GinkgoT().TempDir()}, env...)...)
		return cmd
	}
}

// lineOf returns the number of the line of the fixture's file that ends
// with mark, for asserting where a failure is reported.
func lineOf(file, mark string) int {
	GinkgoHelper()
	raw, err := os.ReadFile(filepath.Join(fixtureDir, file))
	Expect(err).NotTo(HaveOccurred())
	for i, l := range strings.Split(string(raw), "\n") {
		if strings.HasSuffix(l, mark) {
			return i + 1
		}
	}
	Fail(fmt.Sprintf("no line of %s ends with %q", file, mark))
	return 0
}
