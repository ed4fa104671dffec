package cli_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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

// The pyharness command as a user runs it: a built binary, its exit codes,
// its usage text, doctor --module, and hosts and stop scoped to a cache
// directory. Specs that start Python are labelled integration; every one
// gives the binary (and the hosts it starts) cache directories of its own.
func TestCLI(t *testing.T) {
	RegisterFailHandler(Fail)
	// Eventually bounds waits on real Python (a process's output, a pool's
	// healing): a bound, not a measurement, so one that a loaded CI machine
	// under -race -p never reaches by accident.
	SetDefaultEventuallyTimeout(time.Minute)
	RunSpecs(t, "CLI Suite")
}

var _ = harness.SkipUnselectedIntegration()

var _ = isolation.VerifyNoLeaksPerSpec()

// defaultWait bounds one run of the binary (doctor --module starts Python
// three times; a loaded CI machine is slow).
const defaultWait = 2 * time.Minute

var (
	binary   string
	baseline goleak.Option
)

var _ = SynchronizedBeforeSuite(func() []byte {
	path, err := gexec.Build("github.com/pyharness/pyharness/cmd/pyharness")
	Expect(err).NotTo(HaveOccurred())
	return []byte(path)
}, func(path []byte) {
	binary = string(path)
	baseline = goleak.IgnoreCurrent()
})

var _ = SynchronizedAfterSuite(func() {
	Expect(leak.FindLeakedGoroutines(baseline)).To(Succeed(), "goroutines left running at the end of the suite")
}, gexec.CleanupBuildArtifacts)

// pyharness runs the binary with args in a cache directory of the spec's own
// (unless env names one), from dir ("" for a temporary directory outside
// this repository), and returns the session once it has exited.
func pyharness(env []string, dir string, args ...string) *gexec.Session {
	GinkgoHelper()
	cmd := exec.Command(binary, args...)
	if dir == "" {
		dir = GinkgoT().TempDir()
	}
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "PYHARNESS_CACHE_DIR="+GinkgoT().TempDir()), env...)
	session, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	select {
	case <-session.Exited:
	case <-time.After(defaultWait):
		session.Kill()
		Fail(fmt.Sprintf("pyharness %v did not exit within %v", args, defaultWait))
	}
	return session
}

func testdata() string {
	GinkgoHelper()
	dir, err := filepath.Abs("testdata")
	Expect(err).NotTo(HaveOccurred())
	return dir
}
