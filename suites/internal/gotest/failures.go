package gotest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/pyharness/pyharness/gotest"
	"github.com/pyharness/pyharness/harness"
)

// fixtureLine is "failures_test.go:N" for the fixture's line marked
// "// line: name" (testdata/_fixture/failures_test.go).
func fixtureLine(name string) string {
	GinkgoHelper()
	src, err := os.ReadFile(filepath.Join(fixtureDir, "failures_test.go"))
	Expect(err).NotTo(HaveOccurred())
	for i, line := range strings.Split(string(src), "\n") {
		if strings.HasSuffix(line, "// line: "+name) {
			return fmt.Sprintf("failures_test.go:%d", i+1)
		}
	}
	Fail("no fixture line marked " + name)
	return ""
}

var _ = describe("gotest failures that read at the test's line", harness.PythonMock, func() {
	It("fails a test that left an appended handler unused, at the line that made the mock, naming counts, sites and calls", func() {
		s := runFixture("TestMockUnusedHandler")
		Expect(s).To(gexec.Exit(1))
		Expect(string(s.Out.Contents())).To(ContainSubstring(
			"    " + fixtureLine("mock-unused") + ": mockpy: appended handlers never used: 2 appended, 1 used\n" +
				"            unused: handler 2, appended at " + fixtureLine("append") + "\n" +
				"        calls received (1), in order:\n" +
				`            tag({"text":"x"}) -> appended handler 1 (appended at ` + fixtureLine("append") + "), called at " + fixtureLine("used-call") + "\n" +
				"--- FAIL: TestMockUnusedHandler"))
	})

	It("passes it under mockpy.WithUnusedHandlersAllowed", func() {
		s := runFixture("TestMockUnusedHandlerAllowed")
		Expect(s).To(gexec.Exit(0))
		Expect(string(s.Out.Contents())).To(ContainSubstring("--- PASS: TestMockUnusedHandlerAllowed"))
	})

	It("says nothing of unused handlers in a test that failed already", func() {
		s := runFixture("TestMockUnusedHandlerAfterAFailure")
		Expect(s).To(gexec.Exit(1))
		Expect(string(s.Out.Contents())).To(ContainSubstring("the test's own failure"))
		Expect(string(s.Out.Contents())).NotTo(ContainSubstring("appended handlers never used"))
	})

	It("fails an unhandled call at the test's line, also when the user's code made the call", func() {
		s := runFixture("TestMockUnhandledCallDirect")
		Expect(s).To(gexec.Exit(1))
		Expect(string(s.Out.Contents())).To(ContainSubstring("    " + fixtureLine("unhandled-direct") +
			`: mockpy: unhandled call tag({"text":"x"}) at ` + fixtureLine("unhandled-direct") +
			`: no route for "tag", no handler appended, built-ins off`))

		s = runFixture("TestMockUnhandledCall")
		Expect(s).To(gexec.Exit(1))
		// go test prints the first line that is not a helper (the user's
		// code here); the message names the test's line.
		Expect(string(s.Out.Contents())).To(MatchRegexp(`    tagger\.go:\d+: mockpy: unhandled call tag\({"text":"x"}\) at %s: `,
			regexp.QuoteMeta(fixtureLine("unhandled-call"))))
	})

	It("prints a mocked Python exception as type, message and traceback lines", func() {
		s := runFixture("TestMockPythonError")
		Expect(s).To(gexec.Exit(1))
		Expect(string(s.Out.Contents())).To(MatchRegexp(`tagging: mockpy: call "tag": python ValueError: cannot tag 'x'\n` +
			`\s+Traceback \(most recent call last\):\n` +
			`\s+File ".*/failures_test\.go", line \d+, in tag\n` +
			`\s+ValueError: cannot tag 'x'\n`))
	})
})

var _ = describe("gotest failures with Python", harness.Integration, harness.PythonReal, func() {
	It("prints a Python exception as type, message and the handler's traceback lines, without the worker's frames", func() {
		s := runFixture("TestRealPythonError", gotest.EnvIntegration+"=1")
		Expect(s).To(gexec.Exit(1))
		out := string(s.Out.Contents())
		Expect(out).To(MatchRegexp(`tagging: realpy: worker \S+ \(pid \d+\): call "tag": python ValueError: cannot tag 'x'\n` +
			`\s+Traceback \(most recent call last\):\n` +
			`\s+File ".*/failure_handlers\.py", line \d+, in tag\n` +
			`\s+return _check\(args\["text"\]\)\n` +
			`(\s+\^+\n)?` +
			`\s+File ".*/failure_handlers\.py", line \d+, in _check\n` +
			`\s+raise ValueError\(f"cannot tag \{text!r\}"\)\n` +
			`\s+ValueError: cannot tag 'x'\n` +
			`\s+and something else\n`))
		Expect(out).NotTo(ContainSubstring("pyharness_worker"))
	})
})
