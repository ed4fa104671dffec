// The Ginkgo half of the verdicts example. Without the build tag
// `verdicts` it holds one passing spec; with it, failing_test.go adds one
// failing spec per failure kind:
//
//	PYHARNESS_INTEGRATION=1 go tool ginkgo --tags verdicts ./ginkgo   # fails, on purpose
package ginkgo_test

import (
	"path/filepath"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/isolation"
	"github.com/pyharness/pyharness/mockpy"

	"example.com/verdicts"
)

func TestVerdicts(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Verdicts Suite")
}

var _ = harness.SkipUnselectedIntegration()

var _ = isolation.VerifyNoLeaks()

func pythonDir() string {
	dir, err := filepath.Abs(filepath.Join("..", "python"))
	Expect(err).NotTo(HaveOccurred())
	return dir
}

var _ = Describe("Tagger", func() {
	mode := isolation.Basic()

	It("returns the keywords Python extracts", func(ctx SpecContext) {
		mode.Mock().RouteToHandler("keywords", mockpy.Respond([]string{"phone"}))
		Expect(verdicts.NewTagger(mode.Mock()).Keywords(ctx, "great phone")).To(Equal([]string{"phone"}))
		Expect(mode.Mock()).To(mockpy.HaveReceived("keywords", mockpy.WithArgs(HaveKeyWithValue("text", "great phone"))))
	})
})
