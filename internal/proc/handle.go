package proc

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Handle names one process by a pidfd, so that signals reach it and never a
// process that reused its pid, and so that its end can be waited for
// although it is not our child (a worker a zygote forked).
type Handle struct {
	pid  int
	f    *os.File
	gone chan struct{} // closed once the process has ended
	done chan struct{} // closed once the watching goroutine has returned
}

// Open returns a handle on pid, or an error when it is gone or pidfds are
// not available (Linux before 5.10).
func Open(pid int) (*Handle, error) {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("pidfd of %d: %w", pid, err)
	}
	h := &Handle{pid: pid, f: os.NewFile(uintptr(fd), fmt.Sprintf("pidfd:%d", pid)),
		gone: make(chan struct{}), done: make(chan struct{})}
	go h.watch()
	return h, nil
}

// watch waits, on the runtime's poller, until the pidfd is readable: the
// process has ended.
func (h *Handle) watch() {
	defer close(h.done)
	rc, err := h.f.SyscallConn()
	if err != nil {
		return
	}
	ended := false
	err = rc.Read(func(fd uintptr) bool {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, _ := unix.Poll(fds, 0)
		ended = n > 0
		return ended
	})
	if err == nil && ended {
		close(h.gone)
	}
}

// Pid returns the process id.
func (h *Handle) Pid() int { return h.pid }

// Gone is closed once the process has ended (exited or killed, reaped or
// not).
func (h *Handle) Gone() <-chan struct{} { return h.gone }

// Signal sends sig to the process; nil once it is gone.
func (h *Handle) Signal(sig syscall.Signal) error {
	select {
	case <-h.gone:
		return nil
	default:
	}
	rc, err := h.f.SyscallConn()
	if err != nil {
		return err
	}
	var sendErr error
	if err := rc.Control(func(fd uintptr) { sendErr = unix.PidfdSendSignal(int(fd), sig, nil, 0) }); err != nil {
		return err
	}
	if errors.Is(sendErr, syscall.ESRCH) {
		return nil
	}
	return sendErr
}

// Close stops watching and releases the pidfd; Gone stays as it is.
func (h *Handle) Close() {
	_ = h.f.Close()
	<-h.done
}
