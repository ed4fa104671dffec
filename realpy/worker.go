package realpy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/onsi/gomega/gbytes"
	"golang.org/x/sys/unix"

	"github.com/pyharness/pyharness/wire"
)

// Environment variables every worker process carries, so that a leak check
// can find it (and anything it started) from /proc.
const (
	EnvOwnerPid = "PYHARNESS_OWNER_PID" // pid of the Go process that started it
	EnvWorkerID = "PYHARNESS_WORKER_ID"
	EnvRunID    = "PYHARNESS_RUN_ID"
)

// Worker is one real Python interpreter serving the wire protocol over a
// socket of its own (fd 3 in the worker); its stdout and stderr are captured.
// It runs in a process group of its own, so whatever it spawns dies with it.
//
// A Worker satisfies gexec's Exiter, so specs can wait on it natively:
//
//	Eventually(w).Should(gexec.Exit(0))
//	Eventually(w.Stdout()).Should(gbytes.Say("loaded"))
type Worker struct {
	id     string
	cfg    *config
	cmd    *exec.Cmd
	pid    int
	client *Client
	stdout *gbytes.Buffer
	stderr *gbytes.Buffer

	mu       sync.Mutex
	reaped   bool   // set just before the reap: signals may no longer target the group
	killedBy string // why pyharness killed the process, if it did

	closing    atomic.Bool
	closeOnce  sync.Once
	closeErr   error
	exited     chan struct{} // closed once the process is reaped and its output drained
	waiterDone chan struct{}
	exitCode   int
	signal     syscall.Signal
}

// Start spawns an interpreter running the worker and returns once it has
// answered a readiness ping. If that fails, nothing is left running and the
// error says why (for a worker that died, its exit status and stderr tail).
func Start(ctx context.Context, opts ...Option) (*Worker, error) {
	cfg := newConfig(opts)
	if cfg.startTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.startTimeout)
		defer cancel()
	}
	python, err := FindPython(cfg.python)
	if err != nil {
		return nil, err
	}
	source := cfg.workerSource
	if source == "" {
		if source, err = WorkerSource(); err != nil {
			return nil, err
		}
	}
	id := cfg.workerID
	if id == "" {
		id = randomID()
	}

	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("realpy: socketpair: %w", err)
	}
	local := os.NewFile(uintptr(fds[0]), "pyharness-go")
	remote := os.NewFile(uintptr(fds[1]), "pyharness-worker")
	conn, err := net.FileConn(local)
	local.Close()
	if err != nil {
		remote.Close()
		return nil, fmt.Errorf("realpy: socket: %w", err)
	}

	args := []string{"-m", "pyharness_worker", "--fd", "3", "--worker-id", id, "--max-frame", strconv.Itoa(cfg.maxFrame)}
	if cfg.runID != "" {
		args = append(args, "--run-id", cfg.runID)
	}
	for _, m := range cfg.modules {
		args = append(args, "--module", m)
	}
	cmd := exec.Command(python, args...)
	cmd.Dir = cfg.dir
	cmd.Env = workerEnv(cfg, id, source)
	cmd.ExtraFiles = []*os.File{remote}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = cfg.grace
	w := &Worker{
		id:         id,
		cfg:        cfg,
		cmd:        cmd,
		stdout:     gbytes.NewBuffer(),
		stderr:     gbytes.NewBuffer(),
		exited:     make(chan struct{}),
		waiterDone: make(chan struct{}),
		exitCode:   -1,
	}
	cmd.Stdout, cmd.Stderr = w.stdout, w.stderr
	if cfg.output != nil {
		cmd.Stdout = io.MultiWriter(w.stdout, prefixed(cfg.output, "["+id+" stdout] "))
		cmd.Stderr = io.MultiWriter(w.stderr, prefixed(cfg.output, "["+id+" stderr] "))
	}
	err = cmd.Start()
	remote.Close()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("realpy: start %s: %w", python, err)
	}
	w.pid = cmd.Process.Pid
	w.client = newClient(conn, fmt.Sprintf("worker %s (pid %d)", id, w.pid), cfg.maxFrame, w.broken)
	go w.wait()

	if err := w.client.handshake(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("realpy: start worker: %w", err)
	}
	return w, nil
}

func workerEnv(cfg *config, id, source string) []string {
	path := append([]string{source}, cfg.pythonPath...)
	if existing := os.Getenv("PYTHONPATH"); existing != "" {
		path = append(path, existing)
	}
	env := os.Environ()
	env = append(env,
		"PYTHONPATH="+strings.Join(path, string(filepath.ListSeparator)),
		"PYTHONUNBUFFERED=1",
		EnvOwnerPid+"="+strconv.Itoa(os.Getpid()),
		EnvWorkerID+"="+id,
	)
	if cfg.runID != "" {
		env = append(env, EnvRunID+"="+cfg.runID)
	}
	return append(env, cfg.env...)
}

func randomID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ID returns the worker id (reported by ping as worker_id).
func (w *Worker) ID() string { return w.id }

// Pid returns the interpreter's process id, which is also its process group id.
func (w *Worker) Pid() int { return w.pid }

// Hello returns the worker's answer to the readiness ping.
func (w *Worker) Hello() Hello { return w.client.Hello() }

// Stdout returns everything the worker wrote to stdout, as a gbytes.Buffer
// (closed when the process ends).
func (w *Worker) Stdout() *gbytes.Buffer { return w.stdout }

// Stderr returns everything the worker wrote to stderr, as a gbytes.Buffer.
func (w *Worker) Stderr() *gbytes.Buffer { return w.stderr }

// Exited is closed once the process has ended and been reaped.
func (w *Worker) Exited() <-chan struct{} { return w.exited }

// ExitCode returns -1 while the process runs, then its exit status, or
// 128+signal if a signal ended it (gexec's convention: gexec.Exit matches).
func (w *Worker) ExitCode() int {
	select {
	case <-w.exited:
		return w.exitCode
	default:
		return -1
	}
}

// Err returns nil while the worker can take calls, else the error calls get.
func (w *Worker) Err() error { return w.client.Err() }

// Call runs method in the worker with args and decodes its result into reply
// (which may be nil). See Client.Call for the errors. A call whose context
// ends while the worker runs it returns the context's error at once, and the
// worker is killed: its state is unknown.
func (w *Worker) Call(ctx context.Context, method string, args, reply any) error {
	return w.client.Call(ctx, method, args, reply)
}

// Kill kills the worker's process group with SIGKILL, as a crash would. It
// does not wait; Exited says when the process is gone.
func (w *Worker) Kill() error { return w.Signal(syscall.SIGKILL) }

// Signal sends sig to the worker's process group. After the worker has been
// reaped it does nothing and returns nil.
func (w *Worker) Signal(sig syscall.Signal) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.reaped {
		return nil
	}
	if err := syscall.Kill(-w.pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("realpy: signal worker %s: %w", w.id, err)
	}
	return nil
}

// killFor kills the process group, remembering why, and waits for the reap.
func (w *Worker) killFor(reason string) {
	w.mu.Lock()
	if w.killedBy == "" {
		w.killedBy = reason
	}
	w.mu.Unlock()
	_ = w.Kill()
	<-w.exited
}

// wait observes the exit without reaping it, kills whatever else is left in
// the process group (whose id cannot be reused while the zombie exists),
// then reaps the process and drains its output.
func (w *Worker) wait() {
	defer close(w.waiterDone)
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, w.pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	w.mu.Lock()
	_ = syscall.Kill(-w.pid, syscall.SIGKILL)
	w.reaped = true
	w.mu.Unlock()

	_ = w.cmd.Wait()
	if status, ok := w.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && status.Signaled() {
		w.signal = status.Signal()
		w.exitCode = 128 + int(status.Signal())
	} else {
		w.exitCode = w.cmd.ProcessState.ExitCode()
	}
	w.stdout.Close()
	w.stderr.Close()
	close(w.exited)
	w.client.breakWith(w.exitError())
}

// exitError describes the ended process; only valid after exited is closed.
func (w *Worker) exitError() *wire.WorkerExitedError {
	w.mu.Lock()
	reason := w.killedBy
	w.mu.Unlock()
	return &wire.WorkerExitedError{
		WorkerID: w.id,
		Pid:      w.pid,
		Code:     w.exitCode,
		Signal:   w.signal,
		Reason:   reason,
		Stderr:   tail(w.stderr.Contents(), w.cfg.stderrTail),
	}
}

// broken turns the cause of a broken connection into the error calls get,
// stopping the process where its state can no longer be trusted.
func (w *Worker) broken(cause error) error {
	var cancelled *cancelledCall
	var exited *wire.WorkerExitedError
	switch {
	case w.closing.Load():
		return wire.ErrClosed
	case errors.As(cause, &exited):
		return exited
	case errors.As(cause, &cancelled):
		w.killFor("killed by pyharness: " + cancelled.Error())
		return w.exitError()
	case errors.Is(cause, wire.ErrProtocol), errors.Is(cause, wire.ErrFrameTooLarge):
		w.killFor("killed by pyharness after a protocol violation")
		return cause
	}
	// The worker closed its end: normally it is exiting. Give it the grace
	// period to do so before killing it.
	timer := time.NewTimer(w.cfg.grace)
	defer timer.Stop()
	select {
	case <-w.exited:
	case <-timer.C:
		w.killFor(fmt.Sprintf("killed by pyharness: it closed the protocol channel (%v) but kept running", cause))
	}
	return w.exitError()
}

// Close stops the worker and returns once the process is reaped and every
// goroutine the Worker started has ended. It asks politely first and
// escalates, each step bounded by the grace period (WithGrace): a shutdown
// request, then EOF on the protocol channel, then SIGTERM, then SIGKILL to
// the process group. Close is idempotent and safe to call concurrently, also
// while the process dies on its own; every call returns the same result.
// Calls in flight and later calls fail with wire.ErrClosed.
func (w *Worker) Close() error {
	w.closeOnce.Do(func() { w.closeErr = w.close() })
	return w.closeErr
}

func (w *Worker) close() error {
	w.closing.Store(true)
	w.client.closed.Store(true)
	steps := []func(){
		func() { w.client.notify("shutdown", w.cfg.grace) },
		w.client.closeWrite,
		func() { _ = w.Signal(syscall.SIGTERM) },
	}
	for _, step := range steps {
		if w.hasExited() {
			break
		}
		step()
		w.waitExit(w.cfg.grace)
	}
	if !w.hasExited() {
		w.killFor("killed by pyharness: it outlived the close grace period")
	}
	<-w.exited
	w.client.breakWith(errClosing)
	<-w.client.readerDone
	<-w.waiterDone
	return nil
}

func (w *Worker) hasExited() bool {
	select {
	case <-w.exited:
		return true
	default:
		return false
	}
}

func (w *Worker) waitExit(d time.Duration) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-w.exited:
	case <-timer.C:
	}
}

// tail returns the last n non-empty lines of b.
func tail(b []byte, n int) []string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return nil
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}
