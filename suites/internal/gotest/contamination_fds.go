package gotest

import (
	"fmt"
	"regexp"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/pyharness/pyharness/gotest"
	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/suites/internal/suite"
)

// fdLines returns the lines of the "file descriptors left open" section of
// a contamination report in out (flattened).
func fdLines(out string) []string {
	_, rest, ok := strings.Cut(out, "file descriptors left open:\n")
	if !ok {
		return nil
	}
	var lines []string
	for _, l := range strings.Split(rest, "\n") {
		if !strings.HasPrefix(l, "+ fd ") {
			break
		}
		lines = append(lines, l)
	}
	return lines
}

var _ = describe("gotest.DetectContamination, which knows what the pools own", Ordered, ContinueOnFailure, harness.Integration, harness.PythonReal, func() {
	selected := gotest.EnvIntegration + "=1"
	a := suite.NewAhead() // the fixture tests run side by side, before the first spec

	Describe("passes a correct test", func() {
		for _, e := range []struct{ text, test string }{
			{"DetectContamination then Pool in the first test, which starts the shared pool", "TestContaminationThenPool"},
			{"DetectContamination then Fresh in the first test", "TestContaminationThenFresh"},
			{"the shared pool started after the check, then a worker killed, replaced, the pool back to size and called (Supervise)", "TestContaminationWhileTheSharedPoolStartsAndHeals"},
			{"the shared pool started before the check, healed under it (Supervise)", "TestContaminationWhileTheSharedPoolHeals"},
			{"a spawn pool of the test's, healed under the check (Supervise)", "TestContaminationWhileASpawnPoolHeals"},
		} {
			child := a.Add(fixtureCmd(e.test, selected))
			It(e.text, func() {
				s := child.Session()
				Expect(s).To(gexec.Exit(0), "%s", s.Out.Contents())
				Expect(s.Out.Contents()).To(ContainSubstring("--- PASS: " + e.test))
				Expect(string(s.Out.Contents())).NotTo(ContainSubstring("contamination detected"))
			})
		}
	})

	fileOpen := aheadOffence(a, "TestContaminationLeavesAFileOpenWhileThePoolHeals")
	workerLeft := aheadOffence(a, "TestContaminationLeavesAWorker")

	It("names the file a healing test left open, and nothing of the replacement", func() {
		s, o := fileOpen()
		Expect(s).To(gexec.Exit(1))
		out := flatten(s.Out.Contents())
		Expect(out).To(MatchRegexp(`contamination_fds_fixture_test\.go:%d: pyharness: TestContaminationLeavesAFileOpenWhileThePoolHeals: contamination detected:\n`,
			lineOf("contamination_fds_fixture_test.go", "gotest.DetectContamination(t, nil) // in TestContaminationLeavesAFileOpenWhileThePoolHeals")))
		Expect(fdLines(out)).To(ConsistOf("+ fd "+o.ID+" -> "+o.Site), "the file, alone:\n%s", out)
		Expect(out).NotTo(ContainSubstring("processes left running"))
		Expect(out).NotTo(ContainSubstring("goroutines left running"))
	})

	It("names the worker a test started and left, with its files", func() {
		s, o := workerLeft()
		Expect(s).To(gexec.Exit(1))
		out := flatten(s.Out.Contents())
		Expect(out).To(ContainSubstring("processes left running:\n+ spawned worker %s (pid %d), started at %s\n", o.ID, o.Pid, o.Site))
		named := fmt.Sprintf(" (spawned worker %s, pid %d, started at %s)", o.ID, o.Pid, o.Site)
		holder := regexp.QuoteMeta(named)
		fds := fdLines(out)
		Expect(fds).To(ContainElements(
			MatchRegexp(`^\+ fd \d+ -> socket:\[\d+\]`+holder+`$`),
			MatchRegexp(`^\+ fd \d+ -> pipe:\[\d+\]`+holder+`$`),
			MatchRegexp(`^\+ fd \d+ -> anon_inode:\[pidfd\]`+holder+`$`),
		), "its protocol socket, its output pipes, its pidfd:\n%s", out)
		Expect(fds).To(HaveEach(HaveSuffix(named)), "every new fd is the worker's, named by it")
		Expect(out).NotTo(ContainSubstring("goroutines left running"), "pyharness's goroutines for the worker go with it")
	})
})
