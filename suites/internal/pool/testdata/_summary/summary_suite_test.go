// Package summary is a suite that the pool suite runs as a test binary to
// read the shared pool's summary line: its spec starts a worker of its own.
package summary

import (
	"os"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/realpy"
)

func TestSummary(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Summary Suite")
}

var _ = harness.SkipUnselectedIntegration()

var python = harness.NewSharedPool(options()...) // shared pool: declared here

// options adds, with PYHARNESS_SUMMARY_MODULE set, a handler module to
// import: a missing one fails the pool host's start.
func options() []realpy.Option {
	opts := []realpy.Option{realpy.WithSize(1)}
	if m := os.Getenv("PYHARNESS_SUMMARY_MODULE"); m != "" {
		opts = append(opts, realpy.WithModules(m))
	}
	return opts
}

var _ = It("uses the shared pool and a worker of its own", harness.Integration, func(ctx SpecContext) {
	Expect(python.Pool().Call(ctx, "ping", nil, nil)).To(Succeed())
	w, err := realpy.Start(ctx, realpy.WithOutput(GinkgoWriter))
	Expect(err).NotTo(HaveOccurred())
	Expect(w.Call(ctx, "ping", nil, nil)).To(Succeed())
	Expect(w.Close()).To(Succeed())
})
