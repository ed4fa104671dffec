// Package selection decides whether integration specs run: the one rule
// behind harness.IntegrationSelected and the runnable Examples of realpy,
// which start Python and so run only when integration is selected.
package selection

import (
	"os"

	"github.com/onsi/ginkgo/v2"
)

// The label of specs that need real Python, and the variable that selects
// them whatever the label filter.
const (
	Label          = "integration"
	EnvIntegration = "PYHARNESS_INTEGRATION"
)

// Selected reports whether a spec carrying labels runs under filter (a
// Ginkgo label filter, "" when none was given): PYHARNESS_INTEGRATION=1
// selects everything; otherwise the filter must match the labels.
func Selected(labels []string, filter string) bool {
	if os.Getenv(EnvIntegration) == "1" {
		return true
	}
	return filter != "" && ginkgo.Labels(labels).MatchesLabelFilter(filter)
}
