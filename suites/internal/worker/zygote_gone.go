package worker

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/realpy"
	"github.com/pyharness/pyharness/wire"
)

// A fork from a zygote that is no longer there says why: the zygote's own
// end (its exit and its last stderr lines), or the socket that went away
// under a live zygote; never a bare "dial: no such file or directory".
var _ = describe("A fork from a zygote that is gone", harness.Integration, harness.PythonReal, func() {
	It("names the zygote's end: killed by a signal, with a *wire.WorkerExitedError", func(ctx SpecContext) {
		z, err := realpy.StartZygote(ctx, realpy.WithOutput(GinkgoWriter))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(z.Close)

		Expect(syscall.Kill(z.Pid(), syscall.SIGKILL)).To(Succeed())
		Eventually(z.Exited()).Should(BeClosed())

		_, err = z.Fork(ctx)
		var exited *wire.WorkerExitedError
		Expect(errors.As(err, &exited)).To(BeTrue(), "want a *wire.WorkerExitedError, got %v", err)
		Expect(exited.Pid).To(Equal(z.Pid()))
		Expect(exited.Signal).To(Equal(syscall.SIGKILL))
		Expect(err.Error()).To(HavePrefix("realpy: fork a worker from zygote " + z.ID() + " at "))
		Expect(err.Error()).To(ContainSubstring("the zygote has ended: worker %s (pid %d) was killed by signal 9 (killed)", z.ID(), z.Pid()))
	}, noHang)

	It("says that the socket went away under a zygote that still runs, and what removed it", func(ctx SpecContext) {
		z, err := realpy.StartZygote(ctx, realpy.WithOutput(GinkgoWriter))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(z.Close)

		sock, _, _ := strings.Cut(strings.TrimPrefix(z.Addr(), "unix:"), "#")
		Expect(os.RemoveAll(filepath.Dir(sock))).To(Succeed())

		_, err = z.Fork(ctx)
		Expect(errors.Is(err, syscall.ENOENT)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(ContainSubstring("; the zygote (pid %d) still runs but its socket %s is gone: something removed %s", z.Pid(), sock, filepath.Dir(sock)))
	}, noHang)
})
