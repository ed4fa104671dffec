// Package integration_test holds the example's integration specs: real
// Python on one warm pool for the suite, on the process backend or, with
// PYHARNESS_BACKEND=container, in a testcontainer. They live in a package of
// their own so that the unit suite (package sentiment) links no Docker
// client: only this suite imports the container backend.
package integration_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/harness"
	_ "github.com/pyharness/pyharness/harness/containerbackend" // PYHARNESS_BACKEND=container
	"github.com/pyharness/pyharness/realpy"
)

func TestIntegration(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Sentiment Integration Suite")
}

// Integration specs are skipped unless selected (--label-filter=integration).
var _ = harness.SkipUnselectedIntegration()

// One warm pool for the suite, shared by every `ginkgo -p` process.
var python = harness.NewSharedPool(
	realpy.WithSize(2),
	realpy.WithPythonPath("../python"),       // relative to this package's directory, where go test runs it
	realpy.WithModules("sentiment_handlers"), // its public functions become methods
)
