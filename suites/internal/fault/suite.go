package fault

import (
	"context"
	"fmt"
	"os"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/internal/realpyx"
	"github.com/pyharness/pyharness/isolation"
	"github.com/pyharness/pyharness/realpy"
	"github.com/pyharness/pyharness/suites/internal/suite"
)

// The fault matrix: every way a real worker can misbehave ends in a typed
// error or a correct result, never in a hang or a leak.
func describe(text string, args ...any) bool {
	return suite.Describe("fault", func() { isolation.VerifyNoLeaksPerSpec() }, text, args...)
}

// findPythonChild makes the suites binary a child that only resolves the
// interpreter and prints it.
const findPythonChild = "PYHARNESS_TEST_FIND_PYTHON"

// Child runs the child this package's specs start (a fresh process
// resolving the interpreter, #13 shim cache) and reports whether it did:
// then the binary runs no specs.
func Child() bool {
	if os.Getenv(findPythonChild) != "1" {
		return false
	}
	path, err := realpyx.FindPython(context.Background(), "")
	fmt.Printf("resolved: %s %v\n", path, err)
	return true
}

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
func testdataDir() string { return suite.Testdata("fault") }
