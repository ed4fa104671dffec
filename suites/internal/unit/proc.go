package unit

import (
	"os"
	"os/exec"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/internal/proc"
	"github.com/pyharness/pyharness/internal/stacks"
)

var _ = describe("proc and stacks: what a leak check reads of the processes and goroutines (internal/proc, internal/stacks)", func() {
	It("reads a process's stat: its name (spaces and parentheses too), state, parent and start", func() {
		// The name is the executable's, cut at 15 bytes: a link with an
		// awkward name to sleep.
		sleep, err := exec.LookPath("sleep")
		if err != nil {
			Skip("no sleep: " + err.Error())
		}
		link := filepath.Join(GinkgoT().TempDir(), "a (b) c)")
		Expect(os.Symlink(sleep, link)).To(Succeed())
		cmd := exec.Command(link, "60")
		Expect(cmd.Start()).To(Succeed())
		DeferCleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

		self, ok := proc.ReadStat(os.Getpid())
		Expect(ok).To(BeTrue())
		Expect(self.Pid).To(Equal(os.Getpid()))
		Expect(self.PPid).To(Equal(os.Getppid()))
		Expect(self.Start).To(BeNumerically(">", 0))
		Eventually(func() proc.Stat { st, _ := proc.ReadStat(cmd.Process.Pid); return st }).WithTimeout(10*time.Second).Should(And(
			HaveField("Comm", "a (b) c)"), HaveField("Pid", cmd.Process.Pid), HaveField("PPid", os.Getpid()),
			HaveField("State", BeElementOf("R", "S")), HaveField("Start", BeNumerically(">=", self.Start))),
			"once the child has exec'd the link")
		st, _ := proc.ReadStat(cmd.Process.Pid)
		Expect(st.Pgid).To(Equal(self.Pgid), "the child's process group is ours")
		Expect(st.Session).To(Equal(self.Session))

		Expect(cmd.Process.Kill()).To(Succeed())
		Eventually(func() string { st, _ := proc.ReadStat(cmd.Process.Pid); return st.State }).Should(Equal("Z"), "killed, not reaped")
		Expect(cmd.Wait()).NotTo(Succeed())
		_, ok = proc.ReadStat(cmd.Process.Pid)
		Expect(ok).To(BeFalse(), "reaped: gone")
	})

	It("lists every goroutine, however long the dump of them all", func() {
		stop := make(chan struct{})
		DeferCleanup(func() { close(stop) })
		started := make(chan struct{})
		for range 600 { // their dump (some 150 bytes each) is over the first buffer's 64 KiB
			go blockedInTheDump(started, stop)
		}
		for range 600 {
			<-started
		}
		n := 0
		for _, g := range stacks.All() {
			if g.HasFrame("github.com/pyharness/pyharness/suites/internal/unit.blockedInTheDump") {
				n++
			}
		}
		Expect(n).To(Equal(600))
	})
})

// blockedInTheDump says it started, then waits for stop.
func blockedInTheDump(started, stop chan struct{}) {
	started <- struct{}{}
	<-stop
}
