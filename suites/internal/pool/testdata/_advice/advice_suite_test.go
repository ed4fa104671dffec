// Package advice is a suite that the pool suite runs as a test binary to
// read what SharedPool.Pool says when a spec finds no pool. Its specs fail
// on purpose; it has no harness.SkipUnselectedIntegration, so that an
// integration spec runs where integration is not selected.
package advice

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/realpy"
)

func TestAdvice(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Advice Suite")
}

var python = harness.NewSharedPool(realpy.WithSize(1))

var _ = It("forgot the label", func(ctx SpecContext) {
	Expect(python.Pool().Call(ctx, "ping", nil, nil)).To(Succeed())
})

var _ = It("is labelled, but integration is not selected", harness.Integration, func(ctx SpecContext) {
	Expect(python.Pool().Call(ctx, "ping", nil, nil)).To(Succeed())
})

var _ = It("is labelled and selected by a filter that does not select integration alone", harness.Integration, harness.PythonReal, func(ctx SpecContext) {
	Expect(python.Pool().Call(ctx, "ping", nil, nil)).To(Succeed())
})
