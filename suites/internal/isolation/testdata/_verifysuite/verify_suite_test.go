// Package verifysuite is a suite the isolation suite compiles and runs, to
// see what isolation.VerifyNoLeaks makes of a worker left to the end.
package verifysuite_test

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/isolation"
	"github.com/pyharness/pyharness/realpy"
)

func TestVerifySuite(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Verify Suite")
}

var _ = isolation.VerifyNoLeaks()

// A worker started in BeforeAll runs before every spec's baseline: only
// the end of the suite can find it.
var _ = Describe("a container", Ordered, func() {
	BeforeAll(func(ctx SpecContext) {
		w, err := realpy.Start(ctx)
		_, file, line, _ := runtime.Caller(0)
		Expect(err).NotTo(HaveOccurred())
		raw, _ := json.Marshal(map[string]any{"id": w.ID(), "pid": w.Pid(), "site": fmt.Sprintf("%s:%d", file, line-1)})
		Expect(os.WriteFile(os.Getenv("VERIFY_OFFENCE_OUT"), raw, 0o600)).To(Succeed())
	})

	It("passes", func() {})
})
