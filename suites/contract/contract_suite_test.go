package contract_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"go.uber.org/goleak"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/harness/contract"
	"github.com/pyharness/pyharness/isolation"
	"github.com/pyharness/pyharness/isolation/leak"
)

// The same contract on every interpreter: the mock, the wire-level fake
// (realpy's client against the mock, no Python), a real worker and real pools.
func TestContract(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Contract Suite")
}

var _ = harness.SkipUnselectedIntegration()

var (
	suiteBaseline goleak.Option
	moduleDir     string
)

var _ = BeforeSuite(func() {
	suiteBaseline = goleak.IgnoreCurrent()
	moduleDir = GinkgoT().TempDir()
	Expect(contract.WriteModule(moduleDir)).To(Succeed())
})

var _ = AfterSuite(func() {
	Expect(leak.FindLeakedGoroutines(suiteBaseline)).To(Succeed())
	Expect(leak.OwnedProcesses()).To(BeEmpty())
})

var _ = isolation.VerifyNoLeaksPerSpec()
