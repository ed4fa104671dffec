package pool_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/isolation"
	"github.com/pyharness/pyharness/realpy"
)

// The warm pool: parallel and zygote start, healing, affinity, breaker,
// overflow, orphan reaping.
func TestPool(t *testing.T) {
	if os.Getenv(orphanMakerEnv) != "" {
		runOrphanMaker() // this binary, re-executed as a pool owner to be killed
		return
	}
	RegisterFailHandler(Fail)
	// Eventually bounds waits on real Python (a process's output, a pool's
	// healing): a bound, not a measurement, so one that a loaded CI machine
	// under -race -p never reaches by accident.
	SetDefaultEventuallyTimeout(time.Minute)
	RunSpecs(t, "Pool Suite")
}

var _ = harness.SkipUnselectedIntegration()

var _ = isolation.VerifyNoLeaks()

func testdata() string {
	GinkgoHelper()
	dir, err := filepath.Abs("testdata")
	Expect(err).NotTo(HaveOccurred())
	return dir
}

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
