package contract

import (
	"os"
	"path/filepath"
	"strings"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/harness/contract"
	"github.com/pyharness/pyharness/internal/suitelife"
	"github.com/pyharness/pyharness/isolation"
	"github.com/pyharness/pyharness/realpy"
	"github.com/pyharness/pyharness/suites/internal/suite"
)

// The same contract on every interpreter: the mock, the wire-level fake
// (realpy's client against the mock, no Python), a real worker and real
// pools. Every spec leaves no goroutine and no interpreter running.
func describe(text string, args ...any) bool {
	return suite.Describe("contract", func() { isolation.VerifyNoLeaksPerSpec() }, text, args...)
}

// moduleDir holds the contract's handler module, written once per process.
var moduleDir string

// zygote is the package's own fork server (integration runs only): the pool
// target forks its workers from it, as a suite's shared pool would, instead
// of importing the handler module again for every spec.
var zygote *realpy.Zygote

var _ = suite.Stage("contract", suitelife.Stage{
	All: func(ctx SpecContext, _ []byte) {
		var err error
		moduleDir, err = os.MkdirTemp("", "pyharness-contract-")
		Expect(err).NotTo(HaveOccurred())
		Expect(contract.WriteModule(moduleDir)).To(Succeed())
		if harness.IntegrationSelected() {
			zygote, err = realpy.StartZygote(ctx, realOptions()...)
			Expect(err).NotTo(HaveOccurred())
		}
	},
	AfterAll: func(SpecContext) {
		if zygote != nil {
			Expect(zygote.Close()).To(Succeed())
		}
		if moduleDir != "" {
			Expect(os.RemoveAll(moduleDir)).To(Succeed())
		}
	},
})

// zygoteWatch fails the first spec, of any package of the suites binary,
// at whose end the contract's zygote is gone (its process ended or its
// socket removed): the specs of other packages run in the same process,
// and one of them ending a zygote it does not own is a bug to name.
var zygoteWatch sync.Once

var _ = suite.Registers("contract") && AfterEach(func() {
	if zygote == nil || !strings.HasPrefix(zygote.Addr(), "unix:") {
		return
	}
	sock, _, _ := strings.Cut(strings.TrimPrefix(zygote.Addr(), "unix:"), "#")
	gone := ""
	select {
	case <-zygote.Exited():
		gone = "its process ended; its stderr:\n" + zygote.Stderr().String()
	default:
		if _, err := os.Stat(sock); err != nil {
			gone = "its socket directory " + filepath.Dir(sock) + " was removed"
		}
	}
	if gone != "" {
		zygoteWatch.Do(func() {
			Fail("the contract suite's zygote " + zygote.ID() + " is gone at the end of this spec: " + gone)
		})
	}
})
