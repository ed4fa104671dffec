package gotest_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
	"go.uber.org/goleak"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/isolation"
	"github.com/pyharness/pyharness/isolation/leak"
)

// gotest as its users meet it: a compiled test binary (testdata/_fixture)
// whose tests leak, contaminate, skip or share a pool host, run one test at
// a time, and what the binary then reports and exits with.
func TestGotest(t *testing.T) {
	RegisterFailHandler(Fail)
	// Eventually bounds waits on real Python (a process's output, a pool's
	// healing): a bound, not a measurement, so one that a loaded CI machine
	// under -race -p never reaches by accident.
	SetDefaultEventuallyTimeout(time.Minute)
	RunSpecs(t, "Gotest Suite")
}

var _ = harness.SkipUnselectedIntegration()

var _ = isolation.VerifyNoLeaksPerSpec()

var baseline goleak.Option

// fixture is the compiled fixture binary; fixtureDir is where it runs.
var fixture, fixtureDir string

var _ = SynchronizedBeforeSuite(func(ctx SpecContext) []byte {
	dir, err := os.MkdirTemp("", "pyharness-gotest-suite-")
	Expect(err).NotTo(HaveOccurred())
	bin := filepath.Join(dir, "fixture.test")
	cmd := exec.CommandContext(ctx, "go", "test", "-c", "-o", bin, "./testdata/_fixture")
	cmd.Stdout, cmd.Stderr = GinkgoWriter, GinkgoWriter
	Expect(cmd.Run()).To(Succeed(), "compiling the fixture test binary")
	return []byte(bin)
}, func(_ SpecContext, bin []byte) {
	baseline = goleak.IgnoreCurrent()
	fixture = string(bin)
	var err error
	fixtureDir, err = filepath.Abs(filepath.Join("testdata", "_fixture"))
	Expect(err).NotTo(HaveOccurred())
}, NodeTimeout(5*time.Minute))

var _ = SynchronizedAfterSuite(func() {
	Expect(leak.FindLeakedGoroutines(baseline)).To(Succeed())
	Expect(leak.OwnedProcesses()).To(BeEmpty())
}, func() {
	Expect(os.RemoveAll(filepath.Dir(fixture))).To(Succeed())
})

// runFixture runs one test of the fixture binary (-test.run ^name$ -test.v)
// with env added, in its own cache directory, and waits for it to exit.
func runFixture(name string, env ...string) *gexec.Session {
	GinkgoHelper()
	cmd := exec.Command(fixture, "-test.run", "^"+name+"$", "-test.v")
	cmd.Dir = fixtureDir
	cmd.Env = append(os.Environ(), append([]string{"PYHARNESS_CACHE_DIR=" + GinkgoT().TempDir()}, env...)...)
	session, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	Eventually(session).WithTimeout(2 * time.Minute).Should(gexec.Exit())
	return session
}

// lineOf returns the number of the line of the fixture's file that ends
// with mark, for asserting where a failure is reported.
func lineOf(file, mark string) int {
	GinkgoHelper()
	raw, err := os.ReadFile(filepath.Join("testdata", "_fixture", file))
	Expect(err).NotTo(HaveOccurred())
	for i, l := range strings.Split(string(raw), "\n") {
		if strings.HasSuffix(l, mark) {
			return i + 1
		}
	}
	Fail(fmt.Sprintf("no line of %s ends with %q", file, mark))
	return 0
}
