package cli

import (
	"os"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/suites/internal/suite"
)

var _ = describe("the suite's own builds (suite.GoBuild)", func() {
	It("links a binary once: a second build of the same package and arguments takes it from the cache", func() {
		first := build.Binary(binary)
		again := suite.GoBuild("pyharness", "build", "github.com/pyharness/pyharness/cmd/pyharness")
		DeferCleanup(again.Remove)
		path, err := again.Wait()
		Expect(err).NotTo(HaveOccurred())
		Expect(path).NotTo(Equal(first), "each build writes a binary of its own")
		Expect(again.Cached()).To(BeTrue(), "the second build linked the binary again: its cache key holds something that differs between builds of the same inputs")
		a, err := os.Stat(first)
		Expect(err).NotTo(HaveOccurred())
		b, err := os.Stat(path)
		Expect(err).NotTo(HaveOccurred())
		Expect(b.Size()).To(Equal(a.Size()))
	})
})
