package fault_test

import (
	"path/filepath"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"go.uber.org/goleak"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/isolation/leak"
	"github.com/pyharness/pyharness/realpy"
)

// The fault matrix: every way a real worker can misbehave ends in a typed
// error or a correct result, never in a hang or a leak.
func TestFault(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Fault Suite")
}

var _ = harness.SkipUnselectedIntegration()

var suiteBaseline goleak.Option

var _ = BeforeSuite(func() {
	suiteBaseline = goleak.IgnoreCurrent()
})

var _ = AfterSuite(func() {
	Expect(leak.FindLeakedGoroutines(suiteBaseline)).To(Succeed())
	Expect(leak.OwnedProcesses()).To(BeEmpty())
})

// Registered first, so its cleanup runs last: after every worker a spec
// started has been closed, nothing may be left.
var _ = BeforeEach(func() {
	specBaseline := goleak.IgnoreCurrent()
	DeferCleanup(func() {
		Expect(leak.OwnedProcesses()).To(BeEmpty(), "a spec left processes behind")
		Expect(leak.FindLeakedGoroutines(specBaseline)).To(Succeed(), "a spec left goroutines behind")
	})
})

// startWorker starts a real worker serving the test handlers, closed when
// the spec ends however it ends.
func startWorker(ctx SpecContext, opts ...realpy.Option) *realpy.Worker {
	GinkgoHelper()
	testdata, err := filepath.Abs("testdata")
	Expect(err).NotTo(HaveOccurred())
	opts = append([]realpy.Option{
		realpy.WithOutput(GinkgoWriter),
		realpy.WithPythonPath(testdata),
		realpy.WithModules("faulty_handlers"),
	}, opts...)
	w, err := realpy.Start(ctx, opts...)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(w.Close)
	return w
}
