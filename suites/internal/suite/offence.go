package suite

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
)

// Offence is what an offending child (a gotest fixture test, a nested
// offender of isolation) started and left, and where: the JSON it writes
// to the file its spec names.
type Offence struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
	Pid  int    `json:"pid"`
	Site string `json:"site"` // file:line of the call that started it
}

// ReadOffence decodes the Offence the child of session s wrote to path,
// failing with the child's output when it wrote none.
func ReadOffence(s *gexec.Session, path string) Offence {
	ginkgo.GinkgoHelper()
	raw, err := os.ReadFile(path)
	gomega.Expect(err).NotTo(gomega.HaveOccurred(), "the child recorded what it started; its output:\n%s", s.Out.Contents())
	var o Offence
	gomega.Expect(json.Unmarshal(raw, &o)).To(gomega.Succeed())
	return o
}

// AddOffence registers a child of a that records what it started: cmd
// builds its command with out, the "NAME=path" assignment (NAME is outVar)
// that tells the child where to write its Offence. The returned function
// waits for the child and reads its session and Offence.
func (a *Ahead) AddOffence(outVar string, cmd func(out string) *exec.Cmd) func() (*gexec.Session, Offence) {
	var path string
	child := a.Add(func() *exec.Cmd {
		path = filepath.Join(ginkgo.GinkgoT().TempDir(), "offence.json")
		return cmd(outVar + "=" + path)
	})
	return func() (*gexec.Session, Offence) {
		ginkgo.GinkgoHelper()
		s := child.Session()
		return s, ReadOffence(s, path)
	}
}
