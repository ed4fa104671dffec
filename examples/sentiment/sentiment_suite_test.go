package sentiment_test

import (
	"path/filepath"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/realpy"
)

func TestSentiment(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Sentiment Suite")
}

// Integration specs are skipped unless selected (--label-filter=integration).
var _ = harness.SkipUnselectedIntegration()

// One warm pool for the suite, shared by every `ginkgo -p` process; on the
// container backend with PYHARNESS_BACKEND=container.
var python = harness.NewSharedPool(
	realpy.WithSize(2),
	realpy.WithPythonPath(pythonDir()),
	realpy.WithModules("sentiment_handlers"),
)

func pythonDir() string {
	dir, err := filepath.Abs("python")
	if err != nil {
		panic(err)
	}
	return dir
}
