package realpy

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/pyharness/pyharness/wire"
	"golang.org/x/sys/unix"
)

// ResourceError is a start or fork that failed because this process or the
// machine ran out of something: file descriptors (EMFILE), the system's
// file table (ENFILE), memory (ENOMEM) or processes (EAGAIN at fork). It
// names the resource and its limit; errors.Is matches ErrResourceExhausted
// and the errno (syscall.EMFILE, ...).
type ResourceError struct {
	Op       string        // what failed: "spawn w1 (interpreter /usr/bin/python3)", "fork a worker from zygote z1"
	Resource string        // "file descriptors", "the system's file table", "memory", "processes"
	Limit    string        // the limit and the use, as far as they can be read then
	Errno    syscall.Errno // EMFILE, ENFILE, ENOMEM or EAGAIN
	Err      error         // the error as it came
}

func (e *ResourceError) Error() string {
	return fmt.Sprintf("realpy: %s: out of %s (%s): %v; %s", e.Op, e.Resource, e.Limit, e.Err, resourceHint(e.Errno))
}

func (e *ResourceError) Unwrap() error { return e.Err }

// Is matches ErrResourceExhausted and the errno.
func (e *ResourceError) Is(target error) bool {
	return target == ErrResourceExhausted || target == e.Errno
}

func resourceHint(errno syscall.Errno) string {
	switch errno {
	case syscall.EMFILE:
		return "raise the limit (ulimit -n, or LimitNOFILE of the service) or find what holds descriptors (a leak check: isolation/leak)"
	case syscall.ENFILE:
		return "the whole machine is out of open files: raise fs.file-max or find the process that holds them (lsof)"
	case syscall.ENOMEM:
		return "free memory, raise the limit, or start fewer workers (WithSize)"
	default:
		return "raise the limit or start fewer workers (WithSize)"
	}
}

// resourceError returns the *ResourceError of err when err says a resource
// ran out (forking: whether EAGAIN means the process limit), else nil.
func resourceError(op string, err error, forking bool) *ResourceError {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return nil
	}
	e := &ResourceError{Op: op, Errno: errno, Err: err}
	switch {
	case errno == syscall.EMFILE:
		e.Resource, e.Limit = "file descriptors", nofileLimit()
	case errno == syscall.ENFILE:
		e.Resource, e.Limit = "the system's file table", fileTable()
	case errno == syscall.ENOMEM:
		e.Resource, e.Limit = "memory", memoryLimit()
	case errno == syscall.EAGAIN && forking:
		e.Resource, e.Limit = "processes", rlimitText("RLIMIT_NPROC", unix.RLIMIT_NPROC)
	default:
		return nil
	}
	return e
}

// nofileLimit describes RLIMIT_NOFILE and how many descriptors are open
// (when /proc can still be read: at the limit it cannot).
func nofileLimit() string {
	text := rlimitText("RLIMIT_NOFILE", unix.RLIMIT_NOFILE)
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		return fmt.Sprintf("%s; %d open", text, len(fds)-1)
	}
	return text + "; all in use"
}

// fileTable describes fs.file-max and its use (/proc/sys/fs/file-nr).
func fileTable() string {
	b, err := os.ReadFile("/proc/sys/fs/file-nr")
	if f := strings.Fields(string(b)); err == nil && len(f) == 3 {
		return fmt.Sprintf("fs.file-max %s, %s in use", f[2], f[0])
	}
	return "fs.file-max, /proc/sys/fs/file-max"
}

// memoryLimit describes RLIMIT_AS and the memory available (/proc/meminfo).
func memoryLimit() string {
	text := rlimitText("RLIMIT_AS", unix.RLIMIT_AS)
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
				return text + "; MemAvailable " + strings.TrimSpace(v)
			}
		}
	}
	return text
}

// rlimitText renders one of this process's limits: "RLIMIT_NOFILE 64 (hard 4096)".
func rlimitText(name string, resource int) string {
	var lim unix.Rlimit
	if err := unix.Getrlimit(resource, &lim); err != nil {
		return name + " unknown"
	}
	return fmt.Sprintf("%s %s (hard %s)", name, rlimitValue(lim.Cur), rlimitValue(lim.Max))
}

func rlimitValue(v uint64) string {
	if v == unix.RLIM_INFINITY {
		return "unlimited"
	}
	return strconv.FormatUint(v, 10)
}

// forkFailed reads the zygote's answer to a fork it could not make
// ("fork failed: [Errno 12] Cannot allocate memory (zygote pid 7: RLIMIT_AS
// ...)", zygote.py) as a *ResourceError; nil for any other error.
func forkFailed(op string, err error) *ResourceError {
	var pyErr *wire.PythonError
	if !errors.As(err, &pyErr) {
		return nil
	}
	m := zygoteForkFailed.FindStringSubmatch(pyErr.Message)
	if m == nil {
		return nil
	}
	n, _ := strconv.Atoi(m[1])
	e := resourceError(op, syscall.Errno(n), true)
	if e == nil {
		return nil
	}
	e.Err = err
	if m[2] != "" {
		e.Limit = m[2] // the zygote's own limits, not ours
	}
	return e
}

var zygoteForkFailed = regexp.MustCompile(`^fork failed: \[Errno (\d+)\][^(]*(?:\((.*)\))?$`)
