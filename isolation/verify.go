package isolation

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"go.uber.org/goleak"

	"github.com/pyharness/pyharness/isolation/leak"
)

// VerifyNoLeaks registers, at the top level of a suite, the checks that fail
// it when goroutines or interpreters are left behind: after every spec (a
// goleak baseline taken when the spec starts, and the processes this Go
// process owns) and at the end of the suite. It registers the suite's
// BeforeSuite and AfterSuite; a suite that has its own, or a shared pool
// (which checks the end of the suite itself), uses VerifyNoLeaksPerSpec.
//
//	var _ = isolation.VerifyNoLeaks()
func VerifyNoLeaks() bool {
	var baseline goleak.Option
	BeforeSuite(func() { baseline = goleak.IgnoreCurrent() })
	AfterSuite(func() {
		Expect(leak.FindLeakedGoroutines(baseline)).To(Succeed(), "goroutines left running at the end of the suite")
		Expect(leak.OwnedProcesses()).To(BeEmpty(), "interpreters left running at the end of the suite")
	})
	return VerifyNoLeaksPerSpec()
}

// VerifyNoLeaksPerSpec registers the per-spec half of VerifyNoLeaks. Its
// cleanup is registered first, so it runs last: after every worker a spec
// started has been closed. What ran before the spec (a suite-level zygote or
// pool) is not the spec's: only processes that appeared during it count.
func VerifyNoLeaksPerSpec() bool {
	BeforeEach(func() {
		baseline := goleak.IgnoreCurrent()
		before, err := leak.OwnedProcesses()
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() {
			after, err := leak.OwnedProcesses()
			Expect(err).NotTo(HaveOccurred())
			Expect(leak.NewProcesses(before, after)).To(BeEmpty(), "a spec left processes behind")
			Expect(leak.FindLeakedGoroutines(baseline)).To(Succeed(), "a spec left goroutines behind")
		})
	})
	return true
}
