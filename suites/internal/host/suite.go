package host

import (
	"os"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/internal/realpyx"
	"github.com/pyharness/pyharness/suites/internal/suite"
)

// Warm hosts kept between runs (realpy.StartHost): reuse, staleness,
// replacement of hung hosts, concurrency, idle expiry, stopping.
//
// Every spec has a cache directory of its own, so hosts of other suites
// (and of other specs) are never touched, and stops the hosts it made.
func describe(text string, args ...any) bool {
	return suite.Describe("host", func() {
		BeforeEach(func() {
			GinkgoT().Setenv("PYHARNESS_CACHE_DIR", GinkgoT().TempDir())
			DeferCleanup(func() {
				_, err := realpyx.StopHosts("")
				Expect(err).NotTo(HaveOccurred())
			})
		})
	}, text, args...)
}

func write(path, content string) {
	GinkgoHelper()
	Expect(os.WriteFile(path, []byte(content), 0o644)).To(Succeed())
}
