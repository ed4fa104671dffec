// Package selection decides whether integration specs and tests run: the
// one rule behind harness.IntegrationSelected, gotest.Integration and the
// runnable Examples of realpy, which start Python and so run only when
// integration is selected. It links no test framework.
package selection

import "os"

// The label of specs that need real Python, and the variable that selects
// them whatever the label filter.
const (
	Label          = "integration"
	EnvIntegration = "PYHARNESS_INTEGRATION"
)

// ByEnv reports whether $PYHARNESS_INTEGRATION=1 selects everything.
func ByEnv() bool { return os.Getenv(EnvIntegration) == "1" }

// Selected reports whether a spec runs when the environment does not select
// everything: filterMatches says whether the runner's own filter (a Ginkgo
// label filter naming integration) picks it.
func Selected(filterMatches bool) bool { return ByEnv() || filterMatches }
