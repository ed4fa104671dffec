package isolation

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/isolation"
	"github.com/pyharness/pyharness/mockpy"
	"github.com/pyharness/pyharness/suites/internal/isolation/testdata/tagger"
	"github.com/pyharness/pyharness/suites/internal/suite"
)

// Failures that read at the spec's line: offending specs (registered only
// in a nested run of this binary, see nested.go) fail on purpose, and
// the outer specs read the nested run's JSON report: each failure's text,
// and its location, which must be the line of this file marked
// "// line: NAME".

// tagText is the user's production code between a spec and the mock.
var tagText = tagger.Tag

var _ = func() bool {
	switch nested {
	case "failures":
		Describe("failures", func() {
			Context("basic, strict", func() {
				mode := isolation.Basic()
				It("appends two handlers and makes one call", func(ctx SpecContext) { // line: unused-it
					mode.Mock().AppendHandlers(mockpy.Respond("ok"), mockpy.Respond("again")) // line: unused-append
					Expect(tagText(ctx, mode.Mock(), "x")).To(Succeed())                      // line: unused-call
				})
			})
			Context("basic, lenient", func() {
				mode := isolation.Basic(mockpy.WithUnusedHandlersAllowed())
				It("appends two handlers and makes one call, allowed", func(ctx SpecContext) {
					mode.Mock().AppendHandlers(mockpy.Respond("ok"), mockpy.Respond("again"))
					Expect(tagText(ctx, mode.Mock(), "x")).To(Succeed())
				})
			})
			Context("basic, no built-ins", func() {
				mode := isolation.Basic(mockpy.WithoutBuiltins())
				It("makes a call nothing handles", func(ctx SpecContext) {
					_ = tagText(ctx, mode.Mock(), "x") // line: unhandled
				})
			})
			It("expects a call with args it did not get", func(ctx SpecContext) {
				py := mockpy.New()
				py.RouteToHandler("tag", mockpy.Respond("ok"))
				Expect(tagText(ctx, py, "y")).To(Succeed())
				Expect(py).To(mockpy.HaveReceived("tag", mockpy.WithArgs(HaveKeyWithValue("text", "x")))) // line: received
			})
			It("gets a Python exception where it expected success", func(ctx SpecContext) {
				py := mockpy.New()
				py.RouteToHandler("tag", mockpy.Raise("ValueError", "cannot tag 'x'")) // line: raise
				err := tagText(ctx, py, "x")
				Expect(fmt.Errorf("tagging: %w", err)).NotTo(HaveOccurred()) // line: python-mock
			})
			It("gets a Python exception joined with another error", func(ctx SpecContext) {
				py := mockpy.New()
				py.RouteToHandler("tag", mockpy.Raise("ValueError", "cannot tag 'x'")) // line: raise-joined
				err := errors.Join(tagText(ctx, py, "x"), errors.New("and the cache was cold"))
				Expect(err).NotTo(HaveOccurred()) // line: python-joined
			})
		})
	case "failures-python":
		Describe("failures", harness.Integration, func() {
			It("gets a real Python exception where it expected success", func(ctx SpecContext) {
				err := python.Pool().Call(ctx, "import_something", "pyharness_no_such_module", nil)
				Expect(err).NotTo(HaveOccurred()) // line: python-real
			})
		})
	}
	return true
}()

var _ = describe("Failures read at the spec's line (nested runs)", func() {
	if nested != "" {
		return
	}

	It("fails unused appended handlers at the spec's It, naming counts, sites and calls", func() {
		r := nestedReport("failures")
		spec := r.spec("appends two handlers and makes one call")
		Expect(spec.State).To(Equal(types.SpecStateFailed))
		Expect(spec.Failure.Location).To(beAt("unused-it"))
		Expect(spec.Failure.Message).To(ContainSubstring(
			"basic isolation: mockpy: appended handlers never used: 2 appended, 1 used\n" +
				"    unused: handler 2, appended at failures.go:" + markedLine("unused-append") + "\n" +
				"calls received (1), in order:\n" +
				`    tag({"text":"x"}) -> appended handler 1 (appended at failures.go:` + markedLine("unused-append") + "), called at failures.go:" + markedLine("unused-call")))
		Expect(r.spec("appends two handlers and makes one call, allowed").State).To(Equal(types.SpecStatePassed),
			"mockpy.WithUnusedHandlersAllowed turns the check off")
	})

	It("fails an unhandled call at the spec's line that made it, through the user's code", func() {
		spec := nestedReport("failures").spec("makes a call nothing handles")
		Expect(spec.State).To(Equal(types.SpecStateFailed))
		Expect(spec.Failure.Location).To(beAt("unhandled"))
		Expect(spec.Failure.Message).To(Equal(`mockpy: unhandled call tag({"text":"x"}) at failures.go:` + markedLine("unhandled") +
			`: no route for "tag", no handler appended, built-ins off`))
	})

	It("describes the unmet args matcher of HaveReceived in the matcher's words, with the call it got", func() {
		spec := nestedReport("failures").spec("expects a call with args it did not get")
		Expect(spec.Failure.Location).To(beAt("received"))
		Expect(spec.Failure.Message).NotTo(ContainSubstring("<args>"))
		Expect(spec.Failure.Message).To(ContainSubstring("with args that satisfy\n    HaveKeyWithValue: to have {key: value}"))
		Expect(spec.Failure.Message).To(ContainSubstring(`<string>"text": <string>"x"`))
		Expect(spec.Failure.Message).To(ContainSubstring(`tag({"text":"y"}): its args did not satisfy the matcher:`))
	})

	It("prints a mocked Python exception as type, message and traceback lines, wrapped or joined", func() {
		r := nestedReport("failures")
		abs, err := filepath.Abs(suite.Rel("isolation", "failures.go"))
		Expect(err).NotTo(HaveOccurred())
		for name, raise := range map[string]string{
			"gets a Python exception where it expected success": "raise",
			"gets a Python exception joined with another error": "raise-joined",
		} {
			spec := r.spec(name)
			msg := spec.Failure.Message
			Expect(msg).To(ContainSubstring("python ValueError: cannot tag 'x'\n"))
			// The mock's handler frame is the spec's line that made it raise.
			Expect(msg).To(MatchRegexp(`(?m)^\s+Traceback \(most recent call last\):\n\s+File "%s", line %s, in tag\n\s+ValueError: cannot tag 'x'$`,
				regexp.QuoteMeta(abs), markedLine(raise)))
			Expect(msg).To(ContainSubstring("<holds *wire.PythonError (kind exception, type ValueError)>"), "the formatter, not a struct dump")
			Expect(msg).NotTo(ContainSubstring(`Traceback: "`))
			Expect(msg).NotTo(ContainSubstring(`Kind:`))
			Expect(msg).NotTo(ContainSubstring(`\n`), "no escaped newlines")
		}
		Expect(r.spec("gets a Python exception where it expected success").Failure.Location).To(beAt("python-mock"))
		Expect(r.spec("gets a Python exception joined with another error").Failure.Message).To(ContainSubstring("and the cache was cold"))
	})

	It("prints a real Python exception with the handler's frame and without the worker's", harness.Integration, func() {
		spec := nestedReport("failures-python", "PYHARNESS_INTEGRATION=1").spec("gets a real Python exception where it expected success")
		Expect(spec.Failure.Location).To(beAt("python-real"))
		msg := spec.Failure.Message
		Expect(msg).To(ContainSubstring("python ModuleNotFoundError: No module named 'pyharness_no_such_module'\n"))
		Expect(msg).To(MatchRegexp(`(?m)^\s+Traceback \(most recent call last\):\n\s+File ".*/cart\.py", line \d+, in import_something\n\s+__import__\(name\)$`))
		Expect(msg).NotTo(ContainSubstring("pyharness_worker/server.py"))
		Expect(msg).NotTo(ContainSubstring(`Traceback: "`))
	})
})

// nestedReports caches the report of each nested run: one run serves
// several specs.
var nestedReports = map[string]failuresReport{}

type failuresReport struct{ specs types.SpecReports }

func (r failuresReport) spec(text string) types.SpecReport {
	GinkgoHelper()
	for _, s := range r.specs {
		if s.LeafNodeText == text {
			return s
		}
	}
	Fail(fmt.Sprintf("the nested run has no spec %q", text))
	return types.SpecReport{}
}

// nestedReport runs this binary with the offending specs of name and reads
// its JSON report.
func nestedReport(name string, env ...string) failuresReport {
	GinkgoHelper()
	if r, ok := nestedReports[name]; ok {
		return r
	}
	path := filepath.Join(GinkgoT().TempDir(), "report.json")
	cmd := exec.Command(os.Args[0], suite.Run, "-ginkgo.no-color", "-ginkgo.json-report="+path)
	cmd.Env = append(append(os.Environ(), nestedEnv+"="+name, suite.Only("isolation")), env...)
	session, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	Eventually(session).WithTimeout(2*time.Minute).Should(gexec.Exit(1), "the offending specs fail")
	raw, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	var reports []types.Report
	Expect(json.Unmarshal(raw, &reports)).To(Succeed())
	Expect(reports).To(HaveLen(1))
	r := failuresReport{specs: reports[0].SpecReports}
	nestedReports[name] = r
	return r
}

// markedLine is the line number of this file's line marked "// line: name".
func markedLine(name string) string {
	GinkgoHelper()
	src, err := os.ReadFile(suite.Rel("isolation", "failures.go"))
	Expect(err).NotTo(HaveOccurred())
	for i, line := range strings.Split(string(src), "\n") {
		if strings.HasSuffix(line, "// line: "+name) {
			return fmt.Sprint(i + 1)
		}
	}
	Fail("no line marked " + name)
	return ""
}

// beAt matches a code location at the marked line of this file.
func beAt(name string) OmegaMatcher {
	abs, err := filepath.Abs(suite.Rel("isolation", "failures.go"))
	Expect(err).NotTo(HaveOccurred())
	return WithTransform(func(cl types.CodeLocation) string { return fmt.Sprintf("%s:%d", cl.FileName, cl.LineNumber) },
		Equal(abs+":"+markedLine(name)))
}
