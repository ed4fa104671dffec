package replay

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/isolation"
	"github.com/pyharness/pyharness/realpy"
	"github.com/pyharness/pyharness/suites/internal/suite"
)

// Record and replay: cassettes recorded on real Python, replayed on the
// mock, proved again in verify mode. Every spec leaves no goroutine.
func describe(text string, args ...any) bool {
	return suite.Describe("replay", func() { isolation.VerifyNoLeaksPerSpec() }, text, args...)
}

func testdata() string { return suite.Testdata("replay") }

// startPool starts a pool of the replay handlers, closed when the spec ends.
func startPool(ctx SpecContext, opts ...realpy.Option) *realpy.Pool {
	GinkgoHelper()
	opts = append([]realpy.Option{realpy.WithOutput(GinkgoWriter), realpy.WithPythonPath(testdata()),
		realpy.WithModules("replay_handlers"), realpy.WithSize(1)}, opts...)
	p, err := realpy.StartPool(ctx, opts...)
	DeferCleanup(p.Close)
	Expect(err).NotTo(HaveOccurred())
	return p
}
