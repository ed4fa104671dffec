package worker_test

import (
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/isolation"
	"github.com/pyharness/pyharness/realpy"
)

// The life of one real worker: start, calls, user handlers, output, close.
func TestWorker(t *testing.T) {
	RegisterFailHandler(Fail)
	// Eventually bounds waits on real Python (a process's output, a pool's
	// healing): a bound, not a measurement, so one that a loaded CI machine
	// under -race -p never reaches by accident.
	SetDefaultEventuallyTimeout(time.Minute)
	RunSpecs(t, "Worker Suite")
}

var _ = harness.SkipUnselectedIntegration()

var _ = isolation.VerifyNoLeaks()

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
