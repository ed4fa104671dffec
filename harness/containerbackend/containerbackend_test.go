package containerbackend

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	tclog "github.com/testcontainers/testcontainers-go/log"
)

func TestContainerBackend(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Container Backend Suite")
}

var _ = Describe("testcontainers' log lines", func() {
	It("go to GinkgoWriter, one prefixed line each, not to standard error", func() {
		buf := gbytes.NewBuffer()
		GinkgoWriter.TeeTo(buf)
		DeferCleanup(GinkgoWriter.ClearTeeWriters)
		Expect(tclog.Default()).To(Equal(logger), "the package logger, which testcontainers' own lines use, is ours")
		tclog.Printf("🐳 Creating container for image %s\n", "pyharness-worker:abc")
		tclog.Default().Printf("✅ Container started: %s", "0123abcd")
		Expect(buf).To(gbytes.Say(`testcontainers: 🐳 Creating container for image pyharness-worker:abc\n`))
		Expect(buf).To(gbytes.Say(`testcontainers: ✅ Container started: 0123abcd\n`))
	})
})
