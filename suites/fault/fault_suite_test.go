package fault_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/isolation"
	"github.com/pyharness/pyharness/realpy"
)

// The fault matrix: every way a real worker can misbehave ends in a typed
// error or a correct result, never in a hang or a leak.
func TestFault(t *testing.T) {
	if os.Getenv(findPythonChild) == "1" { // a fresh process resolving the interpreter (#13 shim cache)
		path, err := realpy.FindPython(context.Background(), "")
		fmt.Printf("resolved: %s %v\n", path, err)
		return
	}
	RegisterFailHandler(Fail)
	// Eventually bounds waits on real Python (a process's output, a pool's
	// healing): a bound, not a measurement, so one that a loaded CI machine
	// under -race -p never reaches by accident.
	SetDefaultEventuallyTimeout(time.Minute)
	RunSpecs(t, "Fault Suite")
}

// findPythonChild makes the suite's binary a child that only resolves the
// interpreter and prints it.
const findPythonChild = "PYHARNESS_TEST_FIND_PYTHON"

var _ = harness.SkipUnselectedIntegration()

var _ = isolation.VerifyNoLeaks()

// startWorker starts a real worker serving the test handlers, closed when
// the spec ends however it ends.
func startWorker(ctx SpecContext, opts ...realpy.Option) *realpy.Worker {
	GinkgoHelper()
	opts = append([]realpy.Option{
		realpy.WithOutput(GinkgoWriter),
		realpy.WithPythonPath(testdataDir()),
		realpy.WithModules("faulty_handlers"),
	}, opts...)
	w, err := realpy.Start(ctx, opts...)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(w.Close)
	return w
}

// testdataDir is the absolute path of testdata, where the handler modules are.
func testdataDir() string {
	GinkgoHelper()
	dir, err := filepath.Abs("testdata")
	Expect(err).NotTo(HaveOccurred())
	return dir
}
