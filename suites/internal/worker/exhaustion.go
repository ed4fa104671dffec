package worker

import (
	"errors"
	"os"
	"slices"
	"strconv"
	"syscall"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/realpy"
)

// lowerNofile lowers this process's RLIMIT_NOFILE to its lowest free
// descriptor, so that no new one can be opened, and returns what restores
// it (also registered as a cleanup). Only in Serial specs: the whole
// process is out of descriptors meanwhile.
func lowerNofile() (restore func()) {
	GinkgoHelper()
	var saved syscall.Rlimit
	Expect(syscall.Getrlimit(syscall.RLIMIT_NOFILE, &saved)).To(Succeed())
	entries, err := os.ReadDir("/proc/self/fd")
	Expect(err).NotTo(HaveOccurred())
	var open []int
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		Expect(err).NotTo(HaveOccurred())
		open = append(open, n)
	}
	free := 0
	for slices.Contains(open, free) {
		free++
	}
	lowered := saved
	lowered.Cur = uint64(free)
	Expect(syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lowered)).To(Succeed())
	restored := false
	restore = func() {
		if !restored {
			restored = true
			Expect(syscall.Setrlimit(syscall.RLIMIT_NOFILE, &saved)).To(Succeed())
		}
	}
	DeferCleanup(restore)
	return restore
}

// outOfFDs asserts err is a *realpy.ResourceError for EMFILE naming the
// limit, with no hint at the interpreter.
func outOfFDs(err error, op string) {
	GinkgoHelper()
	var re *realpy.ResourceError
	Expect(errors.As(err, &re)).To(BeTrue(), "want a *realpy.ResourceError, got %v", err)
	Expect(errors.Is(err, realpy.ErrResourceExhausted)).To(BeTrue())
	Expect(errors.Is(err, syscall.EMFILE)).To(BeTrue())
	Expect(re.Resource).To(Equal("file descriptors"))
	Expect(err.Error()).To(MatchRegexp(`^realpy: %s.*: out of file descriptors \(RLIMIT_NOFILE \d+ \(hard (\d+|unlimited)\); (\d+ open|all in use)\): .*too many open files; raise the limit \(ulimit -n`, op))
	Expect(err.Error()).NotTo(ContainSubstring(realpy.EnvPython), "not the interpreter's fault")
}

var _ = describe("Out of a resource at start or fork", Serial, harness.Integration, harness.PythonReal, func() {
	It("out of file descriptors, fails a start with a *realpy.ResourceError naming RLIMIT_NOFILE, not the interpreter", func(ctx SpecContext) {
		Expect(startWorker(ctx).Close()).To(Succeed()) // what a process does once (orphan reaping, the worker's source) is done

		restore := lowerNofile()
		_, err := realpy.Start(ctx, realpy.WithOutput(GinkgoWriter))
		restore()
		outOfFDs(err, "spawn ")

		By("and the next start, with descriptors again, works")
		Expect(startWorker(ctx).Close()).To(Succeed())
	}, noHang)

	It("out of file descriptors, fails a fork from a zygote the same way", func(ctx SpecContext) {
		z, err := realpy.StartZygote(ctx, realpy.WithOutput(GinkgoWriter))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(z.Close)

		restore := lowerNofile()
		_, err = z.Fork(ctx)
		restore()
		outOfFDs(err, "fork a worker from zygote "+z.ID())

		w, err := z.Fork(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(w.Close()).To(Succeed())
	}, noHang)

	It("fails a fork the zygote cannot make for lack of memory with a *realpy.ResourceError naming the zygote's RLIMIT_AS", func(ctx SpecContext) {
		z, err := realpy.StartZygote(ctx, realpy.WithOutput(GinkgoWriter), realpy.WithPythonPath(testdata()), realpy.WithPreload("fork_enomem"))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(z.Close)

		_, err = z.Fork(ctx)
		var re *realpy.ResourceError
		Expect(errors.As(err, &re)).To(BeTrue(), "want a *realpy.ResourceError, got %v", err)
		Expect(errors.Is(err, syscall.ENOMEM)).To(BeTrue())
		Expect(err.Error()).To(MatchRegexp(`^realpy: fork a worker from zygote %s: out of memory \(zygote pid %d: RLIMIT_AS (\d+|unlimited) \(hard (\d+|unlimited)\)\): .*fork failed: \[Errno 12\] Cannot allocate memory`, z.ID(), z.Pid()))
		Expect(err.Error()).To(ContainSubstring("free memory, raise the limit, or start fewer workers (WithSize)"))
	}, noHang)
})
