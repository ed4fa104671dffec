package spawnpool

import (
	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/realpy"
	"github.com/pyharness/pyharness/suites/internal/suite"
)

// A shared pool with WithStrategy(Spawn), for modules that are not
// fork-safe: no pool host, every Ginkgo process spawns its own warm
// workers. It is one of the suites binary's two shared pools (the other is
// the isolation package's zygote pool).
func describe(text string, args ...any) bool {
	return suite.Describe("spawnpool", nil, text, args...)
}

// The shared pool checks at the end of the suite that no goroutine and no
// interpreter is left.
var python = func() *harness.SharedPool {
	if !suite.Registers("spawnpool") {
		return nil
	}
	return harness.NewSharedPoolOn(harness.ProcessBackend,
		realpy.WithStrategy(realpy.Spawn),
		realpy.WithSize(2),
		realpy.WithPythonPath(testdata()),
		realpy.WithModules("forkless"),
	)
}()

func testdata() string { return suite.Testdata("spawnpool") }
