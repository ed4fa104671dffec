package isolation_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/harness"
	_ "github.com/pyharness/pyharness/harness/containerbackend" // PYHARNESS_BACKEND=container
	"github.com/pyharness/pyharness/realpy"
)

// The isolation modes, the shared suite pool, and proof that each check fails
// when it should (offending specs run in a nested Ginkgo run of this binary).
func TestIsolation(t *testing.T) {
	RegisterFailHandler(Fail)
	// Eventually bounds waits on real Python (a process's output, a pool's
	// healing): a bound, not a measurement, so one that a loaded CI machine
	// under -race -p never reaches by accident.
	SetDefaultEventuallyTimeout(time.Minute)
	RunSpecs(t, "Isolation Suite")
}

// nested is the offending spec a nested run executes, "" in the outer run.
var nested = os.Getenv(nestedEnv)

var _ = harness.SkipUnselectedIntegration()

var python = harness.NewSharedPool(
	realpy.WithSize(2),
	realpy.WithPythonPath(testdata()),
	realpy.WithModules("cart"),
)

// The shared pool checks goroutines and processes at the end of the suite
// (specs here kill and replace its workers on purpose, so a per-spec
// goroutine check would see the replacements).

func testdata() string {
	dir, err := filepath.Abs("testdata")
	if err != nil {
		panic(err)
	}
	return dir
}
