package realpy

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/wire"
)

var _ = Describe("A start or fork out of a resource", func() {
	DescribeTable("is a *ResourceError naming the resource and its limit",
		func(errno syscall.Errno, forking bool, resource, limit string) {
			cause := fmt.Errorf("start python3: %w", os.NewSyscallError("fork/exec", errno))
			re := resourceError("spawn w1 (interpreter python3)", cause, forking)
			Expect(re).NotTo(BeNil())
			Expect(re.Resource).To(Equal(resource))
			Expect(re.Limit).To(MatchRegexp(limit))
			var err error = re
			Expect(errors.Is(err, ErrResourceExhausted)).To(BeTrue())
			Expect(errors.Is(err, errno)).To(BeTrue())
			Expect(err.Error()).To(HavePrefix("realpy: spawn w1 (interpreter python3): out of " + resource + " ("))
			Expect(err.Error()).NotTo(ContainSubstring(EnvPython))
		},
		Entry("EMFILE", syscall.EMFILE, true, "file descriptors", `^RLIMIT_NOFILE \d+ \(hard (\d+|unlimited)\); \d+ open$`),
		Entry("ENFILE", syscall.ENFILE, true, "the system's file table", `^fs.file-max \d+, \d+ in use$`),
		Entry("ENOMEM", syscall.ENOMEM, true, "memory", `^RLIMIT_AS (\d+|unlimited) \(hard (\d+|unlimited)\); MemAvailable \d+ kB$`),
		Entry("EAGAIN at fork", syscall.EAGAIN, true, "processes", `^RLIMIT_NPROC (\d+|unlimited) \(hard (\d+|unlimited)\)$`),
	)

	It("is not claimed for other errors, nor for EAGAIN outside a fork", func() {
		Expect(resourceError("x", syscall.ENOENT, true)).To(BeNil())
		Expect(resourceError("x", syscall.EAGAIN, false)).To(BeNil())
		Expect(resourceError("x", errors.New("plain"), true)).To(BeNil())
	})

	It("reads the zygote's failed fork, with the zygote's own limit", func() {
		err := fmt.Errorf("fork: %w", &wire.PythonError{Kind: wire.KindException, Type: "OSError",
			Message: "fork failed: [Errno 12] Cannot allocate memory (zygote pid 42: RLIMIT_AS 1048576 (hard unlimited))"})
		re := forkFailed("fork a worker from zygote z1", err)
		Expect(re).NotTo(BeNil())
		Expect(re.Resource).To(Equal("memory"))
		Expect(re.Limit).To(Equal("zygote pid 42: RLIMIT_AS 1048576 (hard unlimited)"))
		Expect(re.Error()).To(HavePrefix("realpy: fork a worker from zygote z1: out of memory (zygote pid 42: RLIMIT_AS 1048576 (hard unlimited)): fork: "))

		Expect(forkFailed("x", &wire.PythonError{Type: "OSError", Message: "fork failed: [Errno 2] No such file"})).To(BeNil())
		Expect(forkFailed("x", &wire.PythonError{Type: "ValueError", Message: "boom"})).To(BeNil())
	})
})
