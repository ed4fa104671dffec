package realpy

import (
	"flag"
	"os"
	"testing"

	"github.com/onsi/ginkgo/v2"

	"github.com/pyharness/pyharness/internal/selection"
)

// TestMain keeps the fast run Python-free: the runnable Examples of this
// package start real interpreters, so they run only when integration specs
// are selected (PYHARNESS_INTEGRATION=1, or a label filter naming
// integration), or when -test.run names them.
func TestMain(m *testing.M) {
	flag.Parse()
	run := flag.Lookup("test.run")
	filter := flag.Lookup("ginkgo.label-filter")
	labelFilter := ""
	if filter != nil {
		labelFilter = filter.Value.String()
	}
	selected := selection.Selected(labelFilter != "" && ginkgo.Labels{selection.Label}.MatchesLabelFilter(labelFilter))
	if run != nil && run.Value.String() == "" && !selected {
		_ = run.Value.Set("^Test")
	}
	os.Exit(m.Run())
}
