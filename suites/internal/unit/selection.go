package unit

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/internal/selection"
)

// standInEnv makes the suites binary a stand-in for the Ginkgo CLI: run
// through a link named ginkgo, it says it is ready and waits for its stdin
// to close.
const standInEnv = "PYHARNESS_TEST_SELECTION_STAND_IN"

// Child runs the stand-in when this binary is one, and reports whether it
// did: then the binary runs no specs.
func Child() bool {
	if os.Getenv(standInEnv) != "1" {
		return false
	}
	os.Stdout.WriteString("ready\n")
	_, _ = io.Copy(io.Discard, os.Stdin)
	return true
}

var _ = describe("selection: which integration tests a run selects", func() {
	DescribeTable("reads the --label-filter of a Ginkgo CLI command line",
		func(argv []string, want string) {
			Expect(selection.GinkgoCLIFilter(argv)).To(Equal(want))
		},
		Entry(nil, []string{"ginkgo", "-r"}, ""),
		Entry(nil, []string{"ginkgo", "-r", "--label-filter=integration"}, "integration"),
		Entry(nil, []string{"ginkgo", "--label-filter", "integration && !slow", "-r", "./..."}, "integration && !slow"),
		Entry(nil, []string{"ginkgo", "run", "-label-filter=!integration", "-p", "./pkg"}, "!integration"),
		Entry(nil, []string{"ginkgo", "watch", "--label-filter=integration", "-r"}, "integration"),
		Entry("after --: the suites' own arguments", []string{"ginkgo", "-r", "--", "--label-filter=integration"}, ""),
		Entry(nil, []string{"ginkgo", "-v", "--focus", "label-filter", "./x"}, ""),
		Entry("build runs nothing", []string{"ginkgo", "build", "--label-filter=integration"}, ""),
		Entry(nil, []string{"ginkgo", "--a-flag-from-the-future", "--label-filter=integration", "-r"}, "integration"),
	)

	DescribeTable("evaluates a filter against the integration label, not its text",
		func(filter string, want bool) {
			Expect(selection.Matches(filter, []string{selection.Label})).To(Equal(want))
		},
		Entry(nil, "integration", true),
		Entry(nil, "!integration", false),
		Entry(nil, "integration && !slow", true),
		Entry(nil, "integration && slow", false),
		Entry(nil, "unit || integration", true),
		Entry(nil, "!(integration)", false),
		Entry(nil, "/integ/", true),
		Entry(nil, "notintegration", false),
		Entry(nil, "python:real", false),
		Entry(nil, "integration, python:real", true),
		Entry(nil, "!integration && python:mock", false),
		Entry(nil, "(integration || slow) && !wip", true),
	)

	It("says which filter is malformed", func() {
		_, err := selection.Matches("integration &&", []string{selection.Label})
		Expect(err).To(MatchError(ContainSubstring(`label filter "integration &&"`)))
	})

	It("selects by the environment alone under a process that is not the Ginkgo CLI", func() {
		GinkgoT().Setenv(selection.EnvIntegration, "")
		v := selection.VerdictOf(os.Getpid())
		Expect([]bool{v.Selected, v.Ginkgo}).To(Equal([]bool{false, false}))
		Expect(v.Why()).To(Equal("needs real Python: run with PYHARNESS_INTEGRATION=1 (go test ./... runs the others)"))
		GinkgoT().Setenv(selection.EnvIntegration, "1")
		v = selection.VerdictOf(os.Getpid())
		Expect([]bool{v.Selected, v.ByEnv}).To(Equal([]bool{true, true}))
	})

	It("reads the filter on the command line of a parent named ginkgo, and the environment does not override it", func() {
		self, err := os.Executable()
		Expect(err).NotTo(HaveOccurred())
		bin := filepath.Join(GinkgoT().TempDir(), "ginkgo")
		Expect(os.Symlink(self, bin)).To(Succeed())
		GinkgoT().Setenv(selection.EnvIntegration, "")
		for filter, want := range map[string]bool{"integration": true, "!integration": false, "integration && !slow": true} {
			cmd := exec.Command(bin, "-r", "--label-filter="+filter, "./...")
			cmd.Env = append(os.Environ(), standInEnv+"=1")
			stdin, err := cmd.StdinPipe()
			Expect(err).NotTo(HaveOccurred())
			stdout, err := cmd.StdoutPipe()
			Expect(err).NotTo(HaveOccurred())
			Expect(cmd.Start()).To(Succeed())
			DeferCleanup(func() { _ = stdin.Close(); _ = cmd.Wait() })
			Expect(bufio.NewReader(stdout).ReadString('\n')).To(Equal("ready\n"))
			v := selection.VerdictOf(cmd.Process.Pid)
			Expect(v.Err).NotTo(HaveOccurred())
			Expect(v.Ginkgo).To(BeTrue())
			Expect(v.Filter).To(Equal(filter))
			Expect(v.Selected).To(Equal(want), "ginkgo --label-filter=%q", filter)
			if !want {
				Expect(v.Why()).To(ContainSubstring(`the label filter "` + filter + `" does not select the integration label`))
			}
			// As in a Ginkgo suite, the variable does not override a filter.
			GinkgoT().Setenv(selection.EnvIntegration, "1")
			Expect(selection.VerdictOf(cmd.Process.Pid).Selected).To(Equal(want), "with %s=1", selection.EnvIntegration)
			GinkgoT().Setenv(selection.EnvIntegration, "")
		}
	})

	It("agrees with Ginkgo's own parser, on what it accepts and on what each filter selects", func() {
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
			{selection.Label}, {}, {"slow"}, {selection.Label, "slow"}, {selection.Label, "python:real"}, {"python:mock"},
			{"python:real", "python:mock"}, {"a"}, {"b", "c"}, {"INTEGRATION"}, {"key:"},
		}
		for _, filter := range filters {
			theirs, theirErr := types.ParseLabelFilter(filter)
			for _, labels := range labelSets {
				ours, ourErr := selection.Matches(filter, labels)
				Expect(ourErr == nil).To(Equal(theirErr == nil), "%q: Ginkgo's error %v, ours %v", filter, theirErr, ourErr)
				if theirErr == nil {
					Expect(ours).To(Equal(theirs(labels)), "%q on %q", filter, labels)
				}
			}
		}
	})

	It("reads the command line as the CLI's own flag set reads it", func() {
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
			Expect(err).NotTo(HaveOccurred())
			_, err = flags.Parse(args)
			Expect(err).NotTo(HaveOccurred(), "%q", args)
			Expect(selection.GinkgoCLIFilter(append([]string{"ginkgo"}, args...))).To(Equal(suite.LabelFilter), "%q", args)
		}
	})
})
