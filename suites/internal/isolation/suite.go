package isolation

import (
	"os"

	"github.com/pyharness/pyharness/harness"
	_ "github.com/pyharness/pyharness/harness/containerbackend" // PYHARNESS_BACKEND=container
	"github.com/pyharness/pyharness/realpy"
	"github.com/pyharness/pyharness/suites/internal/suite"
)

// The isolation modes, the shared suite pool, and proof that each check fails
// when it should (offending specs run in a nested Ginkgo run of the suites
// binary that registers this package alone).
func describe(text string, args ...any) bool {
	return suite.Describe("isolation", nil, text, args...)
}

// nested is the offending spec a nested run executes, "" in the outer run.
var nested = os.Getenv(nestedEnv)

// The shared pool checks goroutines and processes at the end of the suite
// (specs here kill and replace its workers on purpose, so a per-spec
// goroutine check would see the replacements).
var python = func() *harness.SharedPool {
	if !suite.Registers("isolation") {
		return nil
	}
	return harness.NewSharedPool(
		realpy.WithSize(2),
		realpy.WithPythonPath(testdata()),
		realpy.WithModules("cart"),
	)
}()

func testdata() string { return suite.Testdata("isolation") }
