package cli

import (
	"fmt"
	"os"
	"os/exec"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/pyharness/pyharness/internal/suitelife"
	"github.com/pyharness/pyharness/isolation"
	"github.com/pyharness/pyharness/suites/internal/suite"
)

// The pyharness command as a user runs it: a built binary, its exit codes,
// its usage text, doctor --module, and hosts and stop scoped to a cache
// directory. Specs that start Python are labelled integration; every one
// gives the binary (and the hosts it starts) cache directories of its own.
// Every spec leaves no goroutine and no interpreter running.
func describe(text string, args ...any) bool {
	return suite.Describe("cli", func() { isolation.VerifyNoLeaksPerSpec() }, text, args...)
}

// defaultWait bounds one run of the binary (doctor --module starts Python
// three times; a loaded CI machine is slow).
const defaultWait = 2 * time.Minute

// binary is the pyharness command, built once (by process 1) for the suite,
// in the background (suite.Build).
var (
	binary string
	build  = suite.GoBuild("pyharness", "build", "github.com/pyharness/pyharness/cmd/pyharness")
)

var _ = suite.Stage("cli", suitelife.Stage{
	Start:      func(SpecContext) { build.Start() },
	First:      func(SpecContext) []byte { return build.Handoff() },
	All:        func(_ SpecContext, path []byte) { binary = string(path) },
	AfterAll:   func(SpecContext) { build.Join() }, // before the end-of-suite check
	AfterFirst: func(SpecContext) { Expect(build.Remove()).To(Succeed()) },
})

// pyharness runs the binary with args in a cache directory of the spec's own
// (unless env names one), from dir ("" for a temporary directory outside
// this repository), and returns the session once it has exited.
func pyharness(env []string, dir string, args ...string) *gexec.Session {
	GinkgoHelper()
	cmd := exec.Command(build.Binary(binary), args...)
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

func testdata() string { return suite.Testdata("cli") }
