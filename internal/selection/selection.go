// Package selection decides whether integration specs and tests run: the
// one rule behind harness.IntegrationSelected, gotest.Integration and the
// runnable Examples of realpy, which start Python and so run only when
// integration is selected.
//
// The rule: a Ginkgo label filter selects the specs whose labels it
// matches; without one, $PYHARNESS_INTEGRATION=1 selects everything (a
// Ginkgo suite skips specs the filter leaves out before the variable is
// asked, so the variable never overrides a filter). A plain go test binary
// (a gotest package) has no labels of its own: its tests that need Python
// are labelled integration, and the filter is the one given to the Ginkgo
// CLI that runs the binary (ginkgo passes a non-Ginkgo package only -test.*
// flags, so it is read from the CLI's own command line).
//
// It links no part of Ginkgo, so that a gotest package links none either:
// Ginkgo's label-filter language is evaluated here (labelfilter.go,
// checked against Ginkgo's own parser by the tests).
package selection

import (
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/pyharness/pyharness/internal/proc"
)

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

// Matches reports whether the Ginkgo label filter selects a spec with these
// labels, with Ginkgo's own grammar (!, &&, ||, groups, /regexp/, label sets).
func Matches(filter string, labels []string) (bool, error) {
	f, err := parseLabelFilter(filter)
	if err != nil {
		return false, fmt.Errorf("label filter %q: %w", filter, err)
	}
	return f(labels), nil
}

// Verdict is whether a plain go test binary's integration tests run, and
// what decided it.
type Verdict struct {
	Selected bool
	ByEnv    bool   // $PYHARNESS_INTEGRATION=1
	Ginkgo   bool   // the binary runs under the Ginkgo CLI
	Filter   string // the CLI's --label-filter ("" for none)
	Err      error  // the filter could not be read or parsed
}

// Why says why integration tests are skipped (Selected false), and how to
// run them, in the words of the command that ran the binary.
func (v Verdict) Why() string {
	switch {
	case v.Err != nil:
		return fmt.Sprintf("needs real Python, and the Ginkgo CLI's label filter could not be read (%v): run with %s=1", v.Err, EnvIntegration)
	case v.Ginkgo && v.Filter == "":
		return fmt.Sprintf("needs real Python: run with --label-filter=%s (or %s=1); ginkgo without a label filter runs the others", Label, EnvIntegration)
	case v.Ginkgo:
		return fmt.Sprintf("needs real Python: the label filter %q does not select the %s label that gotest gives such tests (--label-filter=%s runs them)",
			v.Filter, Label, Label)
	}
	return fmt.Sprintf("needs real Python: run with %s=1 (go test ./... runs the others)", EnvIntegration)
}

// HowToRun says how to select integration tests, for a summary line.
func (v Verdict) HowToRun() string {
	if v.Ginkgo && v.Filter != "" {
		return fmt.Sprintf("--label-filter=%s runs them", Label)
	}
	if v.Ginkgo {
		return fmt.Sprintf("--label-filter=%s or %s=1 runs them", Label, EnvIntegration)
	}
	return fmt.Sprintf("%s=1 runs them", EnvIntegration)
}

// ForGoTest is the verdict for this plain go test binary, worked out once:
// the label filter of the Ginkgo CLI that runs it (its parent), evaluated
// against the label integration; without one, the environment.
var ForGoTest = sync.OnceValue(func() Verdict { return VerdictOf(os.Getppid()) })

// VerdictOf is the verdict for a plain go test binary whose parent process
// is parent (ForGoTest's, for any parent).
func VerdictOf(parent int) Verdict {
	v := Verdict{ByEnv: ByEnv()}
	if st, ok := proc.ReadStat(parent); ok && st.Comm == "ginkgo" {
		v.Ginkgo = true
		v.Filter, v.Err = GinkgoCLIFilter(proc.Cmdline(parent))
	}
	switch {
	case v.Err == nil && v.Filter != "":
		// As in a Ginkgo suite, where the CLI's filter decides which specs
		// run before the variable is asked: it does not override a filter.
		v.Selected, v.Err = Matches(v.Filter, []string{Label})
	case v.ByEnv:
		v.Selected, v.Err = true, nil
	}
	return v
}

// GinkgoCLIFilter returns the --label-filter of a Ginkgo CLI command line
// (argv, program name first): `ginkgo [run|watch] [flags] [packages] [--
// args]`; the last one wins, as with package flag. Other commands run no
// tests: "".
func GinkgoCLIFilter(argv []string) (string, error) {
	if len(argv) == 0 {
		return "", fmt.Errorf("the Ginkgo CLI's command line is gone")
	}
	args := argv[1:]
	for i, a := range args {
		if a == "--" { // what follows goes to the suites
			args = args[:i]
			break
		}
	}
	if len(args) > 0 {
		switch args[0] {
		case "build", "bootstrap", "generate", "labels", "outline", "unfocus", "version", "help", "completion":
			return "", nil
		}
	}
	filter, ok, err := scanLabelFilter(args)
	if err != nil || !ok {
		return "", err
	}
	return filter, nil
}

// scanLabelFilter finds -label-filter / --label-filter (=value, or the next
// argument) in args.
func scanLabelFilter(args []string) (string, bool, error) {
	filter, found := "", false
	for i := 0; i < len(args); i++ {
		name, value, hasValue := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		if !strings.HasPrefix(args[i], "-") || name != "label-filter" {
			continue
		}
		if !hasValue {
			if i+1 >= len(args) {
				return "", false, fmt.Errorf("ginkgo %s: --label-filter without its value", strings.Join(args, " "))
			}
			i++
			value = args[i]
		}
		filter, found = value, true
	}
	return filter, found, nil
}
