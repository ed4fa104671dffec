package suite

import (
	"os/exec"
	"slices"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/pyharness/pyharness/harness"
)

// Ahead starts the child runs that the specs of one Ordered container
// read, all at once, before its first spec: a child that checks a leak
// waits out goleak's retries (about 0.4 s) and a call's grace, and
// children run side by side wait those out once instead of once per spec.
// Each spec then waits for its own child and reads its output as if it
// had started it. NewAhead adds the container's BeforeAll, so call it in
// the body of an Ordered container whose specs all run in the same runs
// (the same labels): a child is started only when the container runs, and
// an integration container's only when integration specs are selected.
// Children still running when the container ends are killed.
type Ahead struct {
	children []*Child
}

// Child is one run of an Ahead, started before the container's first spec.
type Child struct {
	cmd     func() *exec.Cmd
	session *gexec.Session
	err     error
}

// NewAhead adds to the enclosing Ordered container the BeforeAll that
// starts the children Add registers (before the container's specs run).
func NewAhead() *Ahead {
	a := &Ahead{}
	ginkgo.BeforeAll(func() {
		// An integration container's specs skip in the BeforeEach of
		// harness.SkipUnselectedIntegration, which runs after this: its
		// children (which start Python) must not start either.
		if slices.Contains(ginkgo.CurrentSpecReport().Labels(), harness.IntegrationLabel) && !harness.IntegrationSelected() {
			ginkgo.Skip(harness.SkipMessage)
		}
		ginkgo.DeferCleanup(func() {
			for _, c := range a.children {
				if c.session != nil {
					c.session.Kill().Wait(time.Minute) // gone already, unless its spec did not run
				}
			}
		})
		for _, c := range a.children {
			c.session, c.err = gexec.Start(c.cmd(), nil, nil)
		}
	})
	return a
}

// Add registers a child run: cmd builds its command when the container
// starts (in its BeforeAll: GinkgoT().TempDir() is the container's).
func (a *Ahead) Add(cmd func() *exec.Cmd) *Child {
	c := &Child{cmd: cmd}
	a.children = append(a.children, c)
	return c
}

// Session waits for the child to exit, writes its output to the spec's
// GinkgoWriter (shown when the spec fails) and returns its session.
func (c *Child) Session() *gexec.Session {
	ginkgo.GinkgoHelper()
	gomega.Expect(c.err).NotTo(gomega.HaveOccurred(), "starting the child")
	gomega.Expect(c.session).NotTo(gomega.BeNil(), "the child was not started: its container's BeforeAll did not run")
	gomega.Eventually(c.session).WithTimeout(2 * time.Minute).Should(gexec.Exit())
	_, _ = ginkgo.GinkgoWriter.Write(c.session.Out.Contents())
	_, _ = ginkgo.GinkgoWriter.Write(c.session.Err.Contents())
	return c.session
}
