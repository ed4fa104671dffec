// Package suites_test is pyharness's own Ginkgo suite: one test binary for
// every package of suites/internal (bench, cli, container, contract, fault,
// gotest, host, isolation, pool, spawnpool, unit, worker), each a package of spec
// files registered at init. A package's per-spec setup is scoped to its own
// specs (its describe wrapper); suite-level setups (the CLI's build, the
// gotest fixture, the contract's zygote, the two shared pools) share the
// suite's SynchronizedBeforeSuite/AfterSuite (internal/suitelife).
package suites_test

import (
	"os"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/internal/ownership"
	"github.com/pyharness/pyharness/isolation"

	_ "github.com/pyharness/pyharness/suites/internal/bench"
	_ "github.com/pyharness/pyharness/suites/internal/cli"
	"github.com/pyharness/pyharness/suites/internal/container"
	_ "github.com/pyharness/pyharness/suites/internal/contract"
	"github.com/pyharness/pyharness/suites/internal/fault"
	_ "github.com/pyharness/pyharness/suites/internal/gotest"
	_ "github.com/pyharness/pyharness/suites/internal/host"
	_ "github.com/pyharness/pyharness/suites/internal/isolation"
	"github.com/pyharness/pyharness/suites/internal/pool"
	_ "github.com/pyharness/pyharness/suites/internal/replay"
	_ "github.com/pyharness/pyharness/suites/internal/spawnpool"
	"github.com/pyharness/pyharness/suites/internal/unit"
	_ "github.com/pyharness/pyharness/suites/internal/worker"
)

// TestMain runs the children the specs start (the binary re-executed as a
// pool owner to be killed, a run that resolves the interpreter, a container
// run, a stand-in for the Ginkgo CLI) before the test flags are parsed: a
// child's command line need not be a test binary's.
func TestMain(m *testing.M) {
	// The failure specs leave calls in flight on purpose, and a check waits
	// its grace in full for each: a fifth of the users' second is plenty for
	// the mocks and workers of these specs to return a cancelled call.
	ownership.CallGrace = 200 * time.Millisecond
	if pool.Child() || fault.Child() || container.Child() || unit.Child() {
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestSuites(t *testing.T) {
	RegisterFailHandler(Fail)
	// Eventually bounds waits on real Python (a process's output, a pool's
	// healing): a bound, not a measurement, so one that a loaded CI machine
	// under -race -p never reaches by accident.
	SetDefaultEventuallyTimeout(time.Minute)
	RunSpecs(t, "pyharness suites")
}

var _ = harness.SkipUnselectedIntegration()

// At the end of the suite, no goroutine started during it and no
// interpreter is left on any process (the shared pools check the same,
// once: it runs after they have closed).
var _ = isolation.VerifyNoLeaksAtEnd()
