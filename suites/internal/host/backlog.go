package host

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/isolation/leak"
	"github.com/pyharness/pyharness/realpy"
)

var _ = describe("A warm host whose listen backlog is full", harness.Integration, harness.PythonReal, func() {
	It("is no evidence of death: StartHost waits for a connection until its context ends, says so, and leaves the host alone", func(ctx SpecContext) {
		// Stopped, the host takes no connection: fill its backlog until
		// the kernel refuses one (EAGAIN), as a burst of attaches does.
		h, opts, sock := stoppedGreeterHost(ctx)
		var queued []net.Conn
		closeQueued := func() {
			for _, c := range queued {
				c.Close()
			}
			queued = nil
		}
		DeferCleanup(closeQueued)
		for {
			c, err := net.Dial("unix", sock)
			if err != nil {
				Expect(err).To(MatchError(syscall.EAGAIN))
				break
			}
			queued = append(queued, c)
			Expect(len(queued)).To(BeNumerically("<", 1<<16), "the backlog never filled")
		}

		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		replaced, err := realpy.StartHost(c, opts...)
		Expect(err).To(HaveOccurred(), "StartHost did not wait: %+v", replaced)
		Expect(err).To(MatchError(context.DeadlineExceeded))
		Expect(err).To(MatchError(And(
			ContainSubstring("warm host "+h.Dir()),
			ContainSubstring("is running, but its socket took no connection before the context ended (its listen backlog stayed full); it was left alone"))))
		Expect(leak.ProcessAlive(h.Pid())).To(BeTrue(), "a full backlog is no evidence that the host is dead")

		closeQueued()
		Expect(syscall.Kill(h.Pid(), syscall.SIGCONT)).To(Succeed())
		again, err := realpy.StartHost(ctx, opts...)
		Expect(err).NotTo(HaveOccurred())
		Expect(again.Outcome).To(Equal(realpy.HostReused), again.Reason)
		Expect(again.Pid()).To(Equal(h.Pid()))
	}, noHang)
})

// stoppedGreeterHost starts a warm host serving a one-line greeter and
// stops it (SIGSTOP: it accepts nothing, so every connect waits in its
// listen backlog). It returns the host, its options and its socket path.
// The host is continued when the spec ends, also when the spec fails before
// it continues it, so that the suite's StopHosts can stop it.
func stoppedGreeterHost(ctx context.Context) (*realpy.Host, []realpy.Option, string) {
	GinkgoHelper()
	dir := GinkgoT().TempDir()
	write(filepath.Join(dir, "greeter.py"), "def greet(args):\n    return 'hi'\n")
	opts := []realpy.Option{realpy.WithPythonPath(dir), realpy.WithModules("greeter")}
	h, err := realpy.StartHost(ctx, opts...)
	Expect(err).NotTo(HaveOccurred())
	sock, _, _ := strings.Cut(strings.TrimPrefix(h.Addr(), "unix:"), "#")
	Expect(syscall.Kill(h.Pid(), syscall.SIGSTOP)).To(Succeed())
	DeferCleanup(func() { _ = syscall.Kill(h.Pid(), syscall.SIGCONT) }) // gone already: nothing to continue
	return h, opts, sock
}
