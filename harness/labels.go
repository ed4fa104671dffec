package harness

import (
	"fmt"
	"os"
	"slices"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	"github.com/pyharness/pyharness/internal/selection"
)

// IntegrationLabel marks specs that need a real Python interpreter.
const IntegrationLabel = selection.Label

// EnvIntegration set to 1 runs integration specs whatever the label filter.
const EnvIntegration = selection.EnvIntegration

// Labels to decorate containers and specs with.
var (
	// Integration marks specs that start real Python.
	Integration = ginkgo.Label(IntegrationLabel)
	// PythonMock, PythonReal and PythonContainer say which interpreter a spec
	// runs on, for filters such as --label-filter="python: containsAny real".
	PythonMock      = ginkgo.Label("python:mock")
	PythonReal      = ginkgo.Label("python:real")
	PythonContainer = ginkgo.Label("python:container")
)

// IntegrationSelected reports whether integration specs run in this suite:
// PYHARNESS_INTEGRATION=1, or a label filter that selects the integration
// label. Without a filter they do not: `ginkgo -r` is the fast run.
func IntegrationSelected() bool { return specSelected([]string{IntegrationLabel}) }

// SkipUnselectedIntegration registers a top-level BeforeEach that skips
// specs labelled integration unless IntegrationSelected. Call it once per
// suite, at the top level:
//
//	var _ = harness.SkipUnselectedIntegration()
//
// A spec counts as selected when PYHARNESS_INTEGRATION=1 or when a label
// filter was given and the spec's own labels match it (so
// --label-filter=python:container selects specs labelled both integration
// and python:container).
//
// Ginkgo shows a skipped spec as an S (its message only with -v), so after
// the suite one line says how many integration specs were skipped and how
// to run them.
func SkipUnselectedIntegration() bool {
	ginkgo.BeforeEach(func() {
		labels := ginkgo.CurrentSpecReport().Labels()
		if slices.Contains(labels, IntegrationLabel) && !specSelected(labels) {
			ginkgo.Skip(SkipMessage)
		}
	})
	ginkgo.ReportAfterSuite("pyharness: skipped integration specs", func(r ginkgo.Report) {
		if n := skippedIntegration(r); n > 0 {
			fmt.Fprintf(os.Stdout, "\npyharness: %d integration spec(s) skipped: %s\n", n, SkipMessage)
		}
	})
	return true
}

// skippedIntegration counts the specs skipped because integration was not selected.
func skippedIntegration(r ginkgo.Report) int {
	n := 0
	for _, spec := range r.SpecReports {
		if spec.State == types.SpecStateSkipped && spec.Failure.Message == SkipMessage {
			n++
		}
	}
	return n
}

func specSelected(labels []string) bool {
	filter := ginkgo.GinkgoLabelFilter()
	return selection.Selected(filter != "" && ginkgo.Labels(labels).MatchesLabelFilter(filter))
}

// SkipMessage says how to run a skipped integration spec.
var SkipMessage = fmt.Sprintf("needs real Python: run with --label-filter=%s (or %s=1)", IntegrationLabel, EnvIntegration)
