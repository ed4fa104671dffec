//go:build verdicts

// The specs of the verdicts example that fail on purpose, one per failure
// kind, behind the build tag `verdicts`; ci/verdicts checks what the
// failures say. The lines marked `verdict:` are the ones a failure must
// point at.
package ginkgo_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/isolation"
	"github.com/pyharness/pyharness/mockpy"
	"github.com/pyharness/pyharness/realpy"

	"example.com/verdicts"
)

var _ = Describe("a unit spec on the mock", func() {
	mode := isolation.Basic()

	It("leaves an appended handler unused", func(ctx SpecContext) {
		mode.Mock().AppendHandlers( // verdict:mock-unmet
			mockpy.Respond([]string{"phone"}),
			mockpy.Respond([]string{"battery"}),
		)
		words, err := verdicts.NewTagger(mode.Mock()).Keywords(ctx, "great phone")
		Expect(err).NotTo(HaveOccurred())
		Expect(words).To(Equal([]string{"phone"}))
	})

	It("makes a call no handler answers", func(ctx SpecContext) {
		_, _ = verdicts.NewTagger(mode.Mock()).Keywords(ctx, "great phone") // verdict:unhandled
	})
})

var _ = Describe("an integration spec on real Python", harness.Integration, func() {
	It("gets a Python exception where it expected keywords", func(ctx SpecContext) {
		w, err := realpy.Start(ctx, realpy.WithPythonPath(pythonDir()), realpy.WithModules("verdicts_handlers"))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(w.Close)
		_, err = verdicts.NewTagger(w).Keywords(ctx, "boom")
		Expect(err).NotTo(HaveOccurred()) // verdict:python-error
	}, SpecTimeout(time.Minute))

	It("starts a worker and never closes it", func(ctx SpecContext) {
		w, err := realpy.Start(ctx, realpy.WithPythonPath(pythonDir()), realpy.WithModules("verdicts_handlers")) // verdict:leaked-worker
		Expect(err).NotTo(HaveOccurred())
		Expect(verdicts.NewTagger(w).Keywords(ctx, "great phone")).To(Equal([]string{"great", "phone"}))
	}, SpecTimeout(time.Minute))
})

var _ = Describe("plain Go", func() {
	It("leaves a goroutine running", func() {
		stop := make(chan struct{})
		go waitForever(stop) // verdict:leaked-goroutine
	})
})

// waitForever is the leaked goroutine: nobody closes stop.
func waitForever(stop chan struct{}) {
	select {
	case <-stop:
	case <-context.Background().Done():
	}
}
