package host_test

import (
	"os"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/realpy"
)

// Warm hosts kept between runs (realpy.StartHost): reuse, staleness,
// replacement of hung hosts, concurrency, idle expiry, stopping.
func TestHost(t *testing.T) {
	RegisterFailHandler(Fail)
	// Eventually bounds waits on real Python (a process's output, a pool's
	// healing): a bound, not a measurement, so one that a loaded CI machine
	// under -race -p never reaches by accident.
	SetDefaultEventuallyTimeout(time.Minute)
	RunSpecs(t, "Host Suite")
}

var _ = harness.SkipUnselectedIntegration()

// Every spec has a cache directory of its own, so hosts of other suites
// (and of other specs) are never touched, and stops the hosts it made.
var _ = BeforeEach(func() {
	GinkgoT().Setenv("PYHARNESS_CACHE_DIR", GinkgoT().TempDir())
	DeferCleanup(func() {
		_, err := realpy.StopHosts("")
		Expect(err).NotTo(HaveOccurred())
	})
})

func write(path, content string) {
	GinkgoHelper()
	Expect(os.WriteFile(path, []byte(content), 0o644)).To(Succeed())
}
