// Package twopools is a suite that the pool suite runs (with ginkgo -p) to
// show that a suite may declare two shared pools, each with its own host,
// together with isolation.VerifyNoLeaks. With PYHARNESS_TEST_LEAK_AT_END
// set, an Ordered container's BeforeAll leaves a worker running, which the
// end of the suite must name (and not the pools' hosts).
package twopools

import (
	"os"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/isolation"
	"github.com/pyharness/pyharness/realpy"
)

func TestTwoPools(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Two Pools Suite")
}

var _ = harness.SkipUnselectedIntegration()

var _ = isolation.VerifyNoLeaks()

var plain = harness.NewSharedPool(realpy.WithSize(1))

var withJSON = harness.NewSharedPool(realpy.WithSize(1), realpy.WithPreload("json"))

var _ = Describe("two shared pools", harness.Integration, func() {
	It("calls the first pool", func(ctx SpecContext) {
		Expect(plain.Pool().Call(ctx, "ping", nil, nil)).To(Succeed())
	})

	It("calls the second pool", func(ctx SpecContext) {
		Expect(withJSON.Pool().Call(ctx, "ping", nil, nil)).To(Succeed())
	})

	It("forks each pool's workers from a host of its own", func() {
		a, b := plain.Pool().Zygote(), withJSON.Pool().Zygote()
		Expect(a).NotTo(BeNil())
		Expect(b).NotTo(BeNil())
		Expect(a.Pid()).NotTo(Equal(b.Pid()))
	})
})

var _ = Describe("a worker left by a BeforeAll", Ordered, harness.Integration, func() {
	if os.Getenv("PYHARNESS_TEST_LEAK_AT_END") == "" {
		return
	}
	BeforeAll(func(ctx SpecContext) {
		_, err := realpy.Start(ctx, realpy.WithOutput(GinkgoWriter)) // never closed: the end of the suite's
		Expect(err).NotTo(HaveOccurred())
	})
	It("runs", func() {})
})
