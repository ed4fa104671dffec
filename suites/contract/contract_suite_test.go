package contract_test

import (
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"go.uber.org/goleak"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/harness/contract"
	"github.com/pyharness/pyharness/isolation"
	"github.com/pyharness/pyharness/isolation/leak"
	"github.com/pyharness/pyharness/realpy"
)

// The same contract on every interpreter: the mock, the wire-level fake
// (realpy's client against the mock, no Python), a real worker and real pools.
func TestContract(t *testing.T) {
	RegisterFailHandler(Fail)
	// Eventually bounds waits on real Python (a process's output, a pool's
	// healing): a bound, not a measurement, so one that a loaded CI machine
	// under -race -p never reaches by accident.
	SetDefaultEventuallyTimeout(time.Minute)
	RunSpecs(t, "Contract Suite")
}

var _ = harness.SkipUnselectedIntegration()

var (
	suiteBaseline goleak.Option
	moduleDir     string
)

// zygote is the suite's own fork server (integration runs only): the pool
// target forks its workers from it, as a suite's shared pool would, instead
// of importing the handler module again for every spec.
var zygote *realpy.Zygote

var _ = BeforeSuite(func(ctx SpecContext) {
	suiteBaseline = goleak.IgnoreCurrent()
	moduleDir = GinkgoT().TempDir()
	Expect(contract.WriteModule(moduleDir)).To(Succeed())
	if harness.IntegrationSelected() {
		var err error
		zygote, err = realpy.StartZygote(ctx, realOptions()...)
		Expect(err).NotTo(HaveOccurred())
	}
}, NodeTimeout(time.Minute))

var _ = AfterSuite(func() {
	if zygote != nil {
		Expect(zygote.Close()).To(Succeed())
	}
	Expect(leak.FindLeakedGoroutines(suiteBaseline)).To(Succeed())
	Expect(leak.OwnedProcesses()).To(BeEmpty())
})

var _ = isolation.VerifyNoLeaksPerSpec()
