package realpy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pyharness/pyharness/internal/counts"
	"github.com/pyharness/pyharness/internal/ownership"
	"github.com/pyharness/pyharness/internal/proc"
	"github.com/pyharness/pyharness/wire"
)

// Worker is one real Python interpreter serving the wire protocol over a
// socket of its own (fd 3 in a spawned worker, an accepted connection in a
// forked one). A spawned worker's stdout and stderr are captured; it runs in
// a process group of its own, so whatever it spawns dies with it.
//
// A Worker satisfies gexec's Exiter, so specs can wait on it natively:
//
//	Eventually(w).Should(gexec.Exit(0))
//	Eventually(w.Stdout().String).Should(ContainSubstring("loaded"))
type Worker struct {
	id     string
	cfg    *procConfig
	proc   process
	client *Client
	alive  *liveness // nil where the worker has no liveness channel (forked over TCP)

	mu       sync.Mutex
	killedBy string // why pyharness killed the process, if it did

	first     firstCalls  // how its first calls went, for a pool's poisoned-zygote check (pool_forksafe.go)
	closing   atomic.Bool // Close began while the process was alive: calls get ErrClosed
	closeOnce sync.Once
	closeErr  error
	watchDone chan struct{}
}

// process is the OS process behind a Worker's connection.
type process interface {
	pid() int
	// hostPid is the pid in this process's pid namespace (0 if not visible).
	hostPid() int
	// signal sends sig to the process group; a no-op once the process is gone.
	signal(sig syscall.Signal) error
	// exited is closed once the process is gone and its output drained.
	exited() <-chan struct{}
	// status is the exit status and terminating signal; valid after exited.
	status() (code int, sig syscall.Signal)
	stdout() *Output
	stderr() *Output
	// done is closed once every goroutine of the process has ended.
	done() <-chan struct{}
	// forget stops waiting to learn how a process that cannot be confirmed
	// gone ended (a forked worker whose zygote does not answer); exited is
	// closed soon after. A no-op for a process of our own.
	forget()
}

// Start spawns an interpreter running the worker and returns once it has
// answered a readiness ping. If that fails, nothing is left running and the
// error says why (for a worker that died, its exit status and stderr tail).
func Start(ctx context.Context, opts ...Option) (*Worker, error) {
	cfg, err := newConfig(targetWorker, opts)
	if err != nil {
		return nil, err
	}
	return start(ctx, &cfg.procConfig)
}

// start spawns a worker configured by cfg.
func start(ctx context.Context, cfg *procConfig) (*Worker, error) {
	if err := reapOrphansOnce(); err != nil {
		return nil, err
	}
	ctx, cancel, err := cfg.startContext(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	id := cfg.id("")
	args := append([]string{"-c", workerMain}, "--fd", "3", "--worker-id", id, "--max-frame", strconv.Itoa(cfg.maxFrame))
	if cfg.concurrency > 1 {
		args = append(args, "--concurrency", strconv.Itoa(cfg.concurrency))
	}
	if cfg.syncThreads > 0 {
		args = append(args, "--sync-threads", strconv.Itoa(cfg.syncThreads))
	}
	for _, m := range cfg.modules {
		args = append(args, "--module", m)
	}
	proc, conns, err := spawn(ctx, cfg, id, args, true)
	if err != nil {
		return nil, err
	}
	counts.WorkersSpawned.Add(1) // for the suite and binary summaries
	w := newWorker(id, cfg, conns[0], proc, false)
	w.alive = newLiveness(conns[1])
	w.track(ctx, ownership.SpawnedWorker)
	defer proc.endStart()
	hctx, stop := noting(ctx, proc.noteStart) // what it runs is read before the ping's end kills it
	defer stop()
	if err := w.client.handshake(hctx, "ping", nil); err != nil {
		w.Close()
		return nil, startError("worker", proc, cfg, err)
	}
	w.client.multiplex(cfg.concurrency)
	return w, nil
}

// newWorker runs the protocol client over conn and watches proc.
func newWorker(id string, cfg *procConfig, conn net.Conn, proc process, pipelined bool) *Worker {
	w := &Worker{id: id, cfg: cfg, proc: proc, watchDone: make(chan struct{})}
	w.client = newClient(conn, fmt.Sprintf("worker %s (pid %d)", id, proc.pid()), cfg.maxFrame, pipelined, w.broken)
	w.client.configure(cfg)
	go func() {
		defer close(w.watchDone)
		<-proc.exited()
		w.client.breakWith(w.exitError())
	}()
	return w
}

// ID returns the worker id (reported by ping as worker_id).
func (w *Worker) ID() string { return w.id }

// Pid returns the interpreter's process id as the interpreter itself sees it
// (os.getpid(), ping's pid), which is also its process group id. For a
// worker in a container that is its pid in the container's pid namespace;
// HostPid gives the pid this machine knows it by.
func (w *Worker) Pid() int { return w.proc.pid() }

// HostPid returns the interpreter's pid in this process's pid namespace:
// what /proc here, ps and the leak checks of isolation/leak report. It
// equals Pid for a local worker. For a worker in a container it is looked up
// in /proc (once); 0 when the process is not visible from here (a Docker
// engine on another machine) or already gone.
func (w *Worker) HostPid() int { return w.proc.hostPid() }

// Hello returns the worker's answer to the readiness ping.
func (w *Worker) Hello() Hello { return w.client.Hello() }

// Capacity returns how many calls the worker serves at once: 1, or
// WithConcurrency's n on a worker that multiplexes.
func (w *Worker) Capacity() int { return w.client.Capacity() }

// Stdout returns everything the worker wrote to stdout, closed when the
// process ends. A worker forked from a zygote in a container (over TCP)
// writes to the zygote's instead.
func (w *Worker) Stdout() *Output { return w.proc.stdout() }

// Stderr returns everything the worker wrote to stderr; see Stdout.
func (w *Worker) Stderr() *Output { return w.proc.stderr() }

// Exited is closed once the process has ended and been reaped.
func (w *Worker) Exited() <-chan struct{} { return w.proc.exited() }

// ExitCode returns -1 while the process runs, then its exit status, or
// 128+signal if a signal ended it (gexec's convention: gexec.Exit matches).
func (w *Worker) ExitCode() int {
	select {
	case <-w.proc.exited():
		code, _ := w.proc.status()
		return code
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
	err := w.client.Call(ctx, method, args, reply)
	w.first.note(method, err)
	return err
}

// Stream calls method as a stream: see Client.Stream.
func (w *Worker) Stream(ctx context.Context, method string, args any) iter.Seq2[json.RawMessage, error] {
	return w.client.Stream(ctx, method, args)
}

// Probe checks that the worker is alive, waiting for its answer until ctx
// ends; a probe that times out leaves the worker and its calls untouched.
//
// The worker answers on a channel of its own, from a thread of its own: a
// worker busy in a Python handler answers, however long the handler runs;
// one that is stopped (SIGSTOP) or stuck in C code that holds the GIL does
// not. A handler that runs too long is what a call's deadline is for. A
// worker forked over TCP (a container) has no such channel: its probe is a
// ping answered after the call in flight.
func (w *Worker) Probe(ctx context.Context) error {
	if w.alive != nil {
		if err := w.client.Err(); err != nil {
			return err
		}
		return w.alive.probe(ctx)
	}
	return w.client.probe(ctx)
}

// Kill kills the worker's process group with SIGKILL, as a crash would. It
// does not wait; Exited says when the process is gone.
func (w *Worker) Kill() error { return w.Signal(syscall.SIGKILL) }

// KillFor kills the worker like Kill, records reason as the cause later calls
// report, and waits until the process is gone.
func (w *Worker) KillFor(reason string) {
	w.killFor(reason)
}

// Signal sends sig to the worker's process group. After the worker has been
// reaped it does nothing and returns nil.
func (w *Worker) Signal(sig syscall.Signal) error {
	if err := w.proc.signal(sig); err != nil {
		return fmt.Errorf("realpy: signal worker %s: %w", w.id, err)
	}
	return nil
}

// killFor kills the process group, remembering why, and waits until it is gone.
func (w *Worker) killFor(reason string) {
	w.mu.Lock()
	if w.killedBy == "" {
		w.killedBy = reason
	}
	w.mu.Unlock()
	_ = w.Kill()
	w.waitExitOrForget()
}

// waitExitOrForget waits until the process is gone, at most the grace
// period: past it (a forked worker whose zygote is stopped, in a paused
// container) the process is taken for gone, with its status unknown.
func (w *Worker) waitExitOrForget() {
	if w.frozen() && !w.hasExited() { // SIGKILL takes effect at the thaw, or with the container
		w.proc.forget()
		<-w.proc.exited()
		return
	}
	if !w.waitExit(w.cfg.grace) {
		w.proc.forget()
		<-w.proc.exited()
	}
}

// exitError describes the ended process; only valid after exited is closed.
func (w *Worker) exitError() *wire.WorkerExitedError {
	w.mu.Lock()
	reason := w.killedBy
	w.mu.Unlock()
	code, sig := w.proc.status()
	return &wire.WorkerExitedError{
		WorkerID: w.id,
		Pid:      w.proc.pid(),
		Code:     code,
		Signal:   sig,
		Reason:   reason,
		Stderr:   tail(w.proc.stderr().Contents(), w.cfg.stderrTail),
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
	case <-w.proc.exited():
	case <-timer.C:
		w.killFor(fmt.Sprintf("killed by pyharness: it closed the protocol channel (%v) but kept running", cause))
	}
	return w.exitError()
}

// Close stops the worker and returns once the process is reaped and every
// goroutine the Worker started has ended. It asks politely first and
// escalates within the grace period (WithGrace): a shutdown request and EOF
// on the protocol channel, then SIGTERM (each given half of it), then
// SIGKILL to the process group; a stopped process gets SIGKILL at once.
// Close returns within about two grace periods whatever state the process
// (or a forked worker's zygote) is in. Close is idempotent and safe to call concurrently, also
// while the process dies on its own; every call returns the same result.
// Calls in flight and later calls fail with wire.ErrClosed, unless the worker
// had already exited: then every call, before and after Close, returns the
// same *wire.WorkerExitedError (exit code, signal, stderr tail).
func (w *Worker) Close() error {
	w.closeOnce.Do(func() { w.closeErr = w.close() })
	return w.closeErr
}

func (w *Worker) close() error {
	// A worker closed while alive answers later calls with wire.ErrClosed;
	// one that had exited keeps answering with its exit error.
	if !w.hasExited() {
		w.closing.Store(true)
		w.client.closed.Store(true)
	}
	// The grace period is the whole time the worker gets to end by itself:
	// half after the shutdown request and EOF, half after SIGTERM. A stopped
	// process can do neither, so it gets SIGKILL at once.
	if !w.hasExited() && !w.stopped() {
		w.client.notify("shutdown", w.cfg.grace)
		w.client.closeWrite()
		if !w.waitExit(w.cfg.grace / 2) {
			_ = w.Signal(syscall.SIGTERM)
			w.waitExit(w.cfg.grace / 2)
		}
	}
	if !w.hasExited() {
		w.killFor("killed by pyharness: it outlived the close grace period")
	}
	w.client.breakWith(errClosing)
	w.alive.close()
	<-w.client.readerDone
	w.client.bg.Wait()
	<-w.watchDone
	<-w.proc.done()
	return nil
}

func (w *Worker) hasExited() bool {
	select {
	case <-w.proc.exited():
		return true
	default:
		return false
	}
}

// waitExit waits up to d for the process to end and reports whether it did.
func (w *Worker) waitExit(d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-w.proc.exited():
		return true
	case <-timer.C:
		return false
	}
}

// stopped reports whether the process is stopped (SIGSTOP, a debugger) or
// frozen (a paused container), as far as this machine can see: it can act
// on no request and no catchable signal.
func (w *Worker) stopped() bool {
	pid := w.HostPid()
	if pid <= 0 {
		return false
	}
	st, ok := proc.ReadStat(pid)
	return ok && (st.State == "T" || st.State == "t") || w.frozen()
}

// frozen reports whether the process is in a frozen cgroup, where even
// SIGKILL waits for the thaw.
func (w *Worker) frozen() bool {
	pid := w.HostPid()
	return pid > 0 && proc.Frozen(pid)
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

// workerMain starts the worker as python -c: python -m would import runpy,
// importlib.util and contextlib first, a few milliseconds of every start
// that no call needs (python/tests/test_start_imports.py holds the budget).
const workerMain = "import sys; from pyharness_worker.__main__ import main; sys.exit(main())"
