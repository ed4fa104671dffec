package selection

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onsi/ginkgo/v2/types"
)

func TestGinkgoCLIFilter(t *testing.T) {
	for _, c := range []struct {
		argv []string
		want string
	}{
		{[]string{"ginkgo", "-r"}, ""},
		{[]string{"ginkgo", "-r", "--label-filter=integration"}, "integration"},
		{[]string{"ginkgo", "--label-filter", "integration && !slow", "-r", "./..."}, "integration && !slow"},
		{[]string{"ginkgo", "run", "-label-filter=!integration", "-p", "./pkg"}, "!integration"},
		{[]string{"ginkgo", "watch", "--label-filter=integration", "-r"}, "integration"},
		{[]string{"ginkgo", "-r", "--", "--label-filter=integration"}, ""}, // after --: the suites' own arguments
		{[]string{"ginkgo", "-v", "--focus", "label-filter", "./x"}, ""},
		{[]string{"ginkgo", "build", "--label-filter=integration"}, ""}, // runs nothing
		{[]string{"ginkgo", "--a-flag-from-the-future", "--label-filter=integration", "-r"}, "integration"},
	} {
		got, err := GinkgoCLIFilter(c.argv)
		if err != nil || got != c.want {
			t.Errorf("GinkgoCLIFilter(%q) = %q, %v; want %q", c.argv, got, err, c.want)
		}
	}
}

func TestMatchesEvaluatesTheFilterNotItsText(t *testing.T) {
	labels := []string{Label}
	for filter, want := range map[string]bool{
		"integration":                   true,
		"!integration":                  false,
		"integration && !slow":          true,
		"integration && slow":           false,
		"unit || integration":           true,
		"!(integration)":                false,
		"/integ/":                       true,
		"notintegration":                false,
		"python:real":                   false,
		"integration, python:real":      true,
		"!integration && python:mock":   false,
		"(integration || slow) && !wip": true,
	} {
		got, err := Matches(filter, labels)
		if err != nil || got != want {
			t.Errorf("Matches(%q, %q) = %v, %v; want %v", filter, labels, got, err, want)
		}
	}
	if _, err := Matches("integration &&", labels); err == nil || !strings.Contains(err.Error(), `label filter "integration &&"`) {
		t.Errorf("a malformed filter: %v", err)
	}
}

// A plain go test binary under a process that is not the Ginkgo CLI: only
// the environment selects.
func TestVerdictOutsideGinkgo(t *testing.T) {
	t.Setenv(EnvIntegration, "")
	v := goTestVerdict(os.Getpid())
	if v.Selected || v.Ginkgo || v.Why() != "needs real Python: run with PYHARNESS_INTEGRATION=1 (go test ./... runs the others)" {
		t.Errorf("got %+v: %s", v, v.Why())
	}
	t.Setenv(EnvIntegration, "1")
	if v := goTestVerdict(os.Getpid()); !v.Selected || !v.ByEnv {
		t.Errorf("PYHARNESS_INTEGRATION=1: got %+v", v)
	}
}

// TestMain doubles as a stand-in for the Ginkgo CLI: run through a link
// named ginkgo, it says it is ready and waits for its stdin to close.
func TestMain(m *testing.M) {
	if os.Getenv("SELECTION_STAND_IN") == "1" {
		os.Stdout.WriteString("ready\n")
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// A parent named ginkgo: its command line carries the filter.
func TestVerdictUnderAProcessNamedGinkgo(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "ginkgo")
	if err := os.Symlink(self, bin); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvIntegration, "")
	for filter, want := range map[string]bool{"integration": true, "!integration": false, "integration && !slow": true} {
		cmd := exec.Command(bin, "-r", "--label-filter="+filter, "./...")
		cmd.Env = append(os.Environ(), "SELECTION_STAND_IN=1")
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if _, err := bufio.NewReader(stdout).ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		v := goTestVerdict(cmd.Process.Pid)
		defer func() { _ = stdin.Close(); _ = cmd.Wait() }()
		if !v.Ginkgo || v.Filter != filter || v.Selected != want || v.Err != nil {
			t.Errorf("ginkgo --label-filter=%q: got %+v, want selected %v", filter, v, want)
		}
		if !want && !strings.Contains(v.Why(), `the label filter "`+filter+`" does not select the integration label`) {
			t.Errorf("why: %s", v.Why())
		}
		// As in a Ginkgo suite, the variable does not override a filter.
		t.Setenv(EnvIntegration, "1")
		if v := goTestVerdict(cmd.Process.Pid); v.Selected != want {
			t.Errorf("ginkgo --label-filter=%q with %s=1: got %+v, want selected %v", filter, EnvIntegration, v, want)
		}
		t.Setenv(EnvIntegration, "")
	}
}

// The evaluator agrees with Ginkgo's own parser, on what it accepts and on
// what each filter selects.
func TestLabelFilterAgreesWithGinkgo(t *testing.T) {
	filters := []string{
		"integration", "!integration", "integration && !slow", "integration && slow", "unit || integration",
		"!(integration)", "/integ/", "/^integ$/", "notintegration", "python:real", "integration, python:real",
		"!integration && python:mock", "(integration || slow) && !wip", "!integration || slow && wip", "INTEGRATION",
		"a && b || c", "a || b && c", "!a && !b", "!!integration", "((integration))", "python: containsAny real",
		"python: containsAny {real, mock}", "python: isEmpty", "python: consistsOf real", "python: isSubsetOf real, mock",
		"python: containsAll real, mock", "!python: isEmpty && integration", "integration &&", "&& integration",
		"integration & slow", "integration | slow", "()", "(integration", "integration)", "integration slow",
		"python: nope real", "python: containsAny", "python: isEmpty x", "/[/", "key:", " integration ", "a,b,,c",
	}
	labelSets := [][]string{
		{Label}, {}, {"slow"}, {Label, "slow"}, {Label, "python:real"}, {"python:mock"}, {"python:real", "python:mock"},
		{"a"}, {"b", "c"}, {"INTEGRATION"}, {"key:"},
	}
	for _, filter := range filters {
		theirs, theirErr := types.ParseLabelFilter(filter)
		ours, ourErr := parseLabelFilter(filter)
		if (theirErr == nil) != (ourErr == nil) {
			t.Errorf("%q: Ginkgo's error %v, ours %v", filter, theirErr, ourErr)
			continue
		}
		if theirErr != nil {
			continue
		}
		for _, labels := range labelSets {
			if a, b := theirs(labels), ours(labels); a != b {
				t.Errorf("%q on %q: Ginkgo says %v, we say %v", filter, labels, a, b)
			}
		}
	}
}

// The command line is read as the CLI's own flag set reads it.
func TestGinkgoCLIFilterAgreesWithGinkgo(t *testing.T) {
	for _, args := range [][]string{
		{"-r"}, {"-r", "--label-filter=integration"}, {"--label-filter", "integration && !slow", "-r", "./..."},
		{"-label-filter=!integration", "-p", "./pkg"}, {"-v", "--focus", "label-filter", "./x"},
		{"--label-filter=a", "--label-filter=b"}, {"-p", "-label-filter", "x", "--procs=3"},
	} {
		var (
			suite    types.SuiteConfig
			reporter types.ReporterConfig
			cli      types.CLIConfig
			goFlags  types.GoFlagsConfig
		)
		flags, err := types.BuildRunCommandFlagSet(&suite, &reporter, &cli, &goFlags)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := flags.Parse(args); err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		got, err := GinkgoCLIFilter(append([]string{"ginkgo"}, args...))
		if err != nil || got != suite.LabelFilter {
			t.Errorf("%q: Ginkgo reads %q, we read %q (%v)", args, suite.LabelFilter, got, err)
		}
	}
}
