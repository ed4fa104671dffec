// Package summary is a suite that the pool suite runs as a test binary to
// read the shared pool's summary line: its spec starts a worker of its own.
package summary

import (
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

var python = harness.NewSharedPool(realpy.WithSize(1))

var _ = It("uses the shared pool and a worker of its own", harness.Integration, func(ctx SpecContext) {
	Expect(python.Pool().Call(ctx, "ping", nil, nil)).To(Succeed())
	w, err := realpy.Start(ctx, realpy.WithOutput(GinkgoWriter))
	Expect(err).NotTo(HaveOccurred())
	Expect(w.Call(ctx, "ping", nil, nil)).To(Succeed())
	Expect(w.Close()).To(Succeed())
})
