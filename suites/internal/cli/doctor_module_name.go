package cli

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
)

var _ = describe("pyharness doctor --module with what is not a Python module name", func() {
	DescribeTable("refuses it with exit 2, saying what to give instead, and checks nothing",
		func(given, says string) {
			s := pyharness([]string{"PYHARNESS_PYTHON=/bin/false"}, "", "doctor", "--module", given)
			Expect(s).To(gexec.Exit(2))
			Expect(s.Out.Contents()).To(BeEmpty(), "nothing was checked")
			Expect(string(s.Err.Contents())).To(ContainSubstring(says))
			Expect(string(s.Err.Contents())).To(ContainSubstring("usage: pyharness doctor [flags]"))
		},
		Entry("a Go import path", "example.com/tagger",
			`"example.com/tagger" is not a Python module name: give the name Python imports, dotted, such as mypkg.handlers`),
		Entry("a file", "python/tagger_handlers.py",
			`"python/tagger_handlers.py" is a file, not a Python module name: use --module tagger_handlers --python-path python`),
		Entry("a file in this directory", "handlers.py",
			`use --module handlers --python-path .`),
	)
})
