package unit

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	tclog "github.com/testcontainers/testcontainers-go/log"

	_ "github.com/pyharness/pyharness/harness/containerbackend" // its logger is testcontainers' default
)

var _ = describe("testcontainers' log lines (harness/containerbackend)", func() {
	It("go to GinkgoWriter, one prefixed line each, not to standard error", func() {
		buf := gbytes.NewBuffer()
		GinkgoWriter.TeeTo(buf)
		DeferCleanup(GinkgoWriter.ClearTeeWriters)
		// Both the package logger, which testcontainers' own lines use, and
		// the default a container run is given are ours.
		tclog.Printf("🐳 Creating container for image %s\n", "pyharness-worker:abc")
		tclog.Default().Printf("✅ Container started: %s", "0123abcd")
		Expect(buf).To(gbytes.Say(`testcontainers: 🐳 Creating container for image pyharness-worker:abc\n`))
		Expect(buf).To(gbytes.Say(`testcontainers: ✅ Container started: 0123abcd\n`))
	})
})
