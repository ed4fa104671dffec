package worker

import (
	"os"
	"path/filepath"
	"regexp"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/realpy"
)

// A handler module that cannot be imported fails the start with an error
// that names the module and shows the Python error where the user's code
// is, as lines: for a SyntaxError its file, line, source and caret.
var _ = describe("A handler module that does not compile", harness.Integration, harness.PythonReal, func() {
	var dir, file string
	BeforeEach(func() {
		dir = GinkgoT().TempDir()
		file = filepath.Join(dir, "broken_syntax.py")
		Expect(os.WriteFile(file, []byte("def ok(args):\n    return 1\n\n\ndef broken(args)\n    return 2\n"), 0o600)).To(Succeed())
	})

	// syntaxError is the text every start must show, each part on its own line.
	syntaxError := func(err error) {
		GinkgoHelper()
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(MatchRegexp(`cannot import handler module 'broken_syntax':\n\s*`+
			`File "%s", line 5\n\s*`+
			`def broken\(args\)\n\s*`+
			`\^+\n\s*`+
			`SyntaxError: \S`, regexp.QuoteMeta(file)))
		Expect(err.Error()).NotTo(ContainSubstring("importlib"), "the harness's frames are cut")
		Expect(err.Error()).NotTo(ContainSubstring("preload failed"))
	}

	It("fails a spawned worker's start naming the module and the SyntaxError at file:line", func(ctx SpecContext) {
		_, err := realpy.Start(ctx, realpy.WithPythonPath(dir), realpy.WithModules("broken_syntax"))
		syntaxError(err)
	}, noHang)

	It("fails a zygote's start the same way", func(ctx SpecContext) {
		_, err := realpy.StartZygote(ctx, realpy.WithPythonPath(dir), realpy.WithModules("broken_syntax"))
		syntaxError(err)
	}, noHang)

	It("fails a pool host's start the same way", func(ctx SpecContext) {
		GinkgoT().Setenv("PYHARNESS_CACHE_DIR", GinkgoT().TempDir()) // its own host, gone with the spec
		_, err := realpy.StartHost(ctx, realpy.WithPythonPath(dir), realpy.WithModules("broken_syntax"))
		syntaxError(err)
	}, noHang)
})

// A WithPythonPath directory that does not exist is the likely reason a
// module is not found: the start's error says so, resolved as the
// interpreter saw it.
var _ = describe("A handler module on a WithPythonPath that does not exist", harness.Integration, harness.PythonReal, func() {
	It("fails the start naming the missing directory, resolved against the working directory", func(ctx SpecContext) {
		_, err := realpy.Start(ctx, realpy.WithPythonPath("no-such-python-dir"), realpy.WithModules("pyharness_missing_handlers"))
		Expect(err).To(HaveOccurred())
		wd, werr := os.Getwd()
		Expect(werr).NotTo(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("No module named 'pyharness_missing_handlers'"))
		Expect(err.Error()).To(ContainSubstring(`WithPythonPath("no-such-python-dir") is %s, which does not exist`, filepath.Join(wd, "no-such-python-dir")))
	})

	It("says nothing of the path when every directory exists", func(ctx SpecContext) {
		_, err := realpy.Start(ctx, realpy.WithPythonPath(GinkgoT().TempDir()), realpy.WithModules("pyharness_missing_handlers"))
		Expect(err).To(MatchError(ContainSubstring("No module named 'pyharness_missing_handlers'")))
		Expect(err.Error()).NotTo(ContainSubstring("does not exist"))
	})
})
