package worker

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/isolation"
	"github.com/pyharness/pyharness/realpy"
	"github.com/pyharness/pyharness/suites/internal/suite"
)

// The life of one real worker: start, calls, user handlers, output, close.
// Every spec leaves no goroutine and no interpreter running.
func describe(text string, args ...any) bool {
	return suite.Describe("worker", func() { isolation.VerifyNoLeaksPerSpec() }, text, args...)
}

func testdata() string { return suite.Testdata("worker") }

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
