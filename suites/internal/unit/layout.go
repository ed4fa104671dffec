package unit

import (
	"os/exec"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// The module's floors: public packages build on internal ones, never the
// other way (docs/layout.md).
var _ = describe("the module's layout", func() {
	It("has no package under internal/ that imports a public package of the module", func(ctx SpecContext) {
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
				// python is the worker's source tree, embedded: data, importing nothing of the module.
				if imp == module || strings.HasPrefix(imp, module+"/") && !strings.HasPrefix(imp, module+"/internal/") && imp != module+"/python" {
					arrows = append(arrows, fields[0]+" -> "+imp)
				}
			}
		}
		Expect(arrows).To(BeEmpty(), "packages under internal/ are plumbing of the public ones: an import back up makes a cycle of floors")
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
