package unit

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// The module's floors: public packages build on internal ones, never the
// other way (docs/layout.md).
var _ = describe("the module's layout", func() {
	It("has no package under internal/ that imports a public package of the module but its leaves", func(ctx SpecContext) {
		const module = "github.com/pyharness/pyharness"
		cmd := exec.CommandContext(ctx, "go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./internal/...")
		cmd.Dir = ".." // the module's root: specs run in suites/
		out, err := cmd.Output()
		Expect(err).NotTo(HaveOccurred(), "go list: %s", exitText(err))
		var arrows []string
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		Expect(len(lines)).To(BeNumerically(">", 10), "the internal packages: %s", out)
		for _, line := range lines {
			fields := strings.Fields(line)
			for _, imp := range fields[1:] {
				// Two public packages are leaves, importing nothing of the module: the
				// call contract (the root package, standard library only), which
				// plumbing takes as everyone does rather than declaring it again,
				// and python, the worker's source tree, embedded.
				if strings.HasPrefix(imp, module+"/") && !strings.HasPrefix(imp, module+"/internal/") && imp != module+"/python" {
					arrows = append(arrows, fields[0]+" -> "+imp)
				}
			}
		}
		Expect(arrows).To(BeEmpty(), "packages under internal/ are plumbing of the public ones: an import back up makes a cycle of floors")

		leaves := exec.CommandContext(ctx, "go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, ".", "./python")
		leaves.Dir = ".."
		out, err = leaves.Output()
		Expect(err).NotTo(HaveOccurred(), "go list: %s", exitText(err))
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			fields := strings.Fields(line)
			for _, imp := range fields[1:] {
				Expect(imp).NotTo(HavePrefix(module), "%s is a leaf: the standard library only", fields[0])
			}
		}
	})

	It("has no Go file but tests over 500 lines: each can be read in one sitting", func() {
		var long []string
		err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "examples" || d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != ".." {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if n := bytes.Count(src, []byte("\n")); n > 500 {
				long = append(long, fmt.Sprintf("%s: %d lines", path, n))
			}
			return nil
		})
		Expect(err).NotTo(HaveOccurred())
		Expect(long).To(BeEmpty(), "split them along their seams")
	})
})

// exitText is an *exec.ExitError's standard error, else err's text.
func exitText(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	if err != nil {
		return err.Error()
	}
	return ""
}
