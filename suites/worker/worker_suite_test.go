package worker_test

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

// The life of one real worker: start, calls, user handlers, output, close.
func TestWorker(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Worker Suite")
}

var _ = harness.SkipUnselectedIntegration()

var suiteBaseline goleak.Option

var _ = BeforeSuite(func() { suiteBaseline = goleak.IgnoreCurrent() })

var _ = AfterSuite(func() {
	Expect(leak.FindLeakedGoroutines(suiteBaseline)).To(Succeed())
	Expect(leak.OwnedProcesses()).To(BeEmpty())
})

var _ = BeforeEach(func() {
	specBaseline := goleak.IgnoreCurrent()
	DeferCleanup(func() {
		Expect(leak.OwnedProcesses()).To(BeEmpty(), "a spec left processes behind")
		Expect(leak.FindLeakedGoroutines(specBaseline)).To(Succeed(), "a spec left goroutines behind")
	})
})

func testdata() string {
	GinkgoHelper()
	dir, err := filepath.Abs("testdata")
	Expect(err).NotTo(HaveOccurred())
	return dir
}

// startWorker starts a worker serving testdata/shop.py, closed when the spec ends.
func startWorker(ctx SpecContext, opts ...realpy.Option) *realpy.Worker {
	GinkgoHelper()
	opts = append([]realpy.Option{
		realpy.WithOutput(GinkgoWriter),
		realpy.WithPythonPath(testdata()),
		realpy.WithModules("shop"),
	}, opts...)
	w, err := realpy.Start(ctx, opts...)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(w.Close)
	return w
}
