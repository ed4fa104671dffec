package pool

import (
	"os"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/isolation"
	"github.com/pyharness/pyharness/realpy"
	"github.com/pyharness/pyharness/suites/internal/suite"
)

// The warm pool: parallel and zygote start, healing, affinity, breaker,
// overflow, orphan reaping. Every spec leaves no goroutine and no
// interpreter running.
func describe(text string, args ...any) bool {
	return suite.Describe("pool", func() { isolation.VerifyNoLeaksPerSpec() }, text, args...)
}

// Child runs this binary as the pool owner the orphan specs kill (or as
// the reaper that finds its orphans), and reports whether it did: then the
// binary runs no specs.
func Child() bool {
	if os.Getenv(orphanMakerEnv) == "" {
		return false
	}
	runOrphanMaker()
	return true
}

func testdata() string { return suite.Testdata("pool") }

// startPool starts a pool closed when the spec ends; it fails the spec on any start error.
func startPool(ctx SpecContext, opts ...realpy.Option) *realpy.Pool {
	GinkgoHelper()
	opts = append([]realpy.Option{realpy.WithOutput(GinkgoWriter), realpy.WithPythonPath(testdata())}, opts...)
	p, err := realpy.StartPool(ctx, opts...)
	DeferCleanup(p.Close)
	Expect(err).NotTo(HaveOccurred())
	return p
}

// nextEvent waits for the next event of kind on sub, skipping others.
func nextEvent(sub *realpy.Subscription, kind realpy.EventKind) realpy.Event {
	GinkgoHelper()
	var got realpy.Event
	Eventually(sub.C).WithTimeout(defaultEventTimeout).Should(Receive(&got, HaveField("Kind", kind)))
	return got
}
