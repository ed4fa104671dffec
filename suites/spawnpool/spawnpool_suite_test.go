package spawnpool_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/realpy"
)

// A shared pool with WithStrategy(Spawn), for modules that are not
// fork-safe: no pool host, every Ginkgo process spawns its own warm workers.
func TestSpawnPool(t *testing.T) {
	RegisterFailHandler(Fail)
	// Eventually bounds waits on real Python (a process's output, a pool's
	// healing): a bound, not a measurement, so one that a loaded CI machine
	// under -race -p never reaches by accident.
	SetDefaultEventuallyTimeout(time.Minute)
	RunSpecs(t, "Spawn Shared Pool Suite")
}

var _ = harness.SkipUnselectedIntegration()

// The shared pool checks at the end of the suite that no goroutine and no
// interpreter is left.
var python = harness.NewSharedPoolOn(harness.ProcessBackend,
	realpy.WithStrategy(realpy.Spawn),
	realpy.WithSize(2),
	realpy.WithPythonPath(testdata()),
	realpy.WithModules("forkless"),
)

func testdata() string {
	wd, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	return filepath.Join(wd, "testdata")
}
