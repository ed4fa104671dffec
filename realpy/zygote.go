package realpy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/pyharness/pyharness/internal/ownership"
	"github.com/pyharness/pyharness/internal/proc"
	"github.com/pyharness/pyharness/internal/realpyx"
	"github.com/pyharness/pyharness/internal/spawnsock"
	"github.com/pyharness/pyharness/wire"
	"golang.org/x/sys/unix"
)

// Zygote is a Python fork server: one parent that imports the preload
// modules (WithPreload) and the handler modules once, listens on a Unix
// socket, and forks a worker per connection. A pool of N heavy workers then
// costs about one import; a fresh worker costs a fork.
//
// Forked workers run in process groups of their own and die with the
// zygote. Before each fork the zygote checks that forking is safe (no
// thread a forked child would miss: OpenMP teams, CUDA, gRPC, Python
// threads; OpenBLAS's survive); when it is not, Fork hands out a fresh
// interpreter the zygote spawns instead, saying so once (WithForkSafety).
type Zygote struct {
	id     string
	cfg    *procConfig
	owner  *Worker // the zygote process, when this Zygote started it; nil when attached
	ctl    *Client // the control channel: the owner's, or a control connection
	exited <-chan struct{}
	pid    int
	dir    string
	addr   string // where workers are forked through: a Unix socket path, or tcp:host:port
	name   string // the zygote's own id (its --zygote-id), as its ping reports it

	hostPidOnce sync.Once
	hostPidVal  int

	forks    atomic.Int64
	safety   safetyState // whether forking is safe (zygote_safety.go)
	mu       sync.Mutex
	children map[int]*forkedProcess // forked workers not yet known to be gone, by pid
	watchers sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

// StartZygote starts a fork server and returns once it answers a readiness
// ping, that is once every preload and handler module is imported.
func StartZygote(ctx context.Context, opts ...Option) (*Zygote, error) {
	cfg, err := newConfig(targetZygote, opts)
	if err != nil {
		return nil, err
	}
	return startZygote(ctx, &cfg.procConfig)
}

func startZygote(ctx context.Context, cfg *procConfig) (*Zygote, error) {
	if err := reapOrphansOnce(); err != nil {
		return nil, err
	}
	ctx, cancel, err := cfg.startContext(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	id := cfg.id("z")
	dir, err := proc.MkdirTemp("zygote")
	if err != nil {
		return nil, fmt.Errorf("realpy: zygote socket dir: %w", err)
	}
	path := filepath.Join(dir, "zygote.sock")
	args := append(zygoteArgs(cfg), "--zygote-id", id, "--fd", "3", "--listen", path)
	secret := realpyx.NewZygoteSecret()
	proc, conns, err := spawn(ctx, cfg, id, args, false, realpyx.ZygoteSecretEnv+"="+secret)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	owner := newWorker(id, cfg, conns[0], proc, true)
	z := &Zygote{id: id, cfg: cfg, owner: owner, ctl: owner.client, exited: owner.Exited(),
		pid: proc.pid(), dir: dir, addr: "unix:" + path + "#" + secret, name: id, children: map[int]*forkedProcess{}}
	owner.track(ctx, ownership.Zygote)
	defer proc.endStart()
	hctx, stop := noting(ctx, proc.noteStart) // what it runs is read before the ping's end kills it
	defer stop()
	if err := owner.client.handshake(hctx, "ping", nil); err != nil {
		z.Close()
		return nil, startError("zygote", proc, cfg, err)
	}
	return z, nil
}

// zygoteArgs is the zygote's command line after the interpreter, without
// its id and how it listens.
func zygoteArgs(cfg *procConfig) []string {
	args := []string{"-m", "pyharness_worker.zygote", "--max-frame", strconv.Itoa(cfg.maxFrame)}
	for _, m := range cfg.preload {
		args = append(args, "--preload", m)
	}
	for _, m := range cfg.modules {
		args = append(args, "--module", m)
	}
	return args
}

// newZygoteCommand checks opts for target (targetContainer) and returns the
// command that starts a zygote with those options.
func newZygoteCommand(target target, opts ...Option) (*realpyx.ZygoteCommand, error) {
	cfg, err := newConfig(target, opts)
	if err != nil {
		return nil, err
	}
	if cfg.runID == "" {
		cfg.runID = newRunID()
	}
	return &realpyx.ZygoteCommand{
		Python:       cfg.python,
		Args:         zygoteArgs(&cfg.procConfig),
		Env:          append(slices.Clone(cfg.env), cfg.remoteThreadLimits().env()...), // before the zygote imports anything; this process's environment does not reach it
		PythonPath:   slices.Clone(cfg.pythonPath),
		RunID:        cfg.runID,
		StartTimeout: cfg.startTimeout,
	}, nil
}

// splitAddr reads a zygote address: "unix:/path", "tcp:host:port", or a
// path, followed by "#secret" when the zygote requires one.
func splitAddr(addr string) (network, address, secret string) {
	addr, secret, _ = strings.Cut(addr, "#")
	if rest, ok := strings.CutPrefix(addr, "tcp:"); ok {
		return "tcp", rest, secret
	}
	return "unix", strings.TrimPrefix(addr, "unix:"), secret
}

// attachZygoteWith connects to a zygote another process started (its Addr, or
// "tcp:host:port" for one in a container reached over a mapped port), for
// instance the suite-level pool host of parallel Ginkgo processes: Fork then
// forks workers for this process. Close detaches without stopping the zygote.
func attachZygoteWith(ctx context.Context, addr string, opts ...Option) (*Zygote, error) {
	cfg, err := newConfig(targetAttach, opts)
	if err != nil {
		return nil, err
	}
	return attachZygote(ctx, addr, &cfg.procConfig)
}

func attachZygote(ctx context.Context, addr string, cfg *procConfig) (*Zygote, error) {
	network, address, _ := splitAddr(addr)
	conn, err := dialZygote(ctx, network, address)
	if err != nil {
		return nil, fmt.Errorf("realpy: attach to zygote at %s: %w", addr, err)
	}
	return attachZygoteConn(ctx, conn, addr, cfg)
}

// attachZygoteConn attaches over conn, a connection to addr.
func attachZygoteConn(ctx context.Context, conn net.Conn, addr string, cfg *procConfig) (*Zygote, error) {
	_, _, secret := splitAddr(addr)
	ctl := newClient(conn, "zygote at "+addr, cfg.maxFrame, true, standaloneBroken)
	if err := ctl.handshake(ctx, "control", map[string]string{"secret": secret}); err != nil {
		ctl.Close()
		return nil, fmt.Errorf("realpy: attach to zygote at %s: %w", addr, err)
	}
	hello := ctl.Hello()
	z := &Zygote{id: hello.WorkerID + "-" + randomID(), cfg: cfg, ctl: ctl, exited: ctl.dead,
		pid: hello.Pid, addr: addr, name: hello.WorkerID, children: map[int]*forkedProcess{}}
	z.track(ctx)
	return z, nil
}

// ID returns the zygote's id; forked workers are named after it.
func (z *Zygote) ID() string { return z.id }

// Pid returns the zygote's process id.
func (z *Zygote) Pid() int { return z.pid }

// HostPid returns the zygote's pid in this process's pid namespace: Pid for
// a local zygote; for one in a container, looked up once in /proc (0 when
// it is not visible from here).
func (z *Zygote) HostPid() int {
	if z.owner != nil {
		return z.pid
	}
	z.hostPidOnce.Do(func() {
		flag := "--zygote-id"
		z.hostPidVal = findHostPid(z.pid, func(st proc.Stat) bool {
			return slices.Contains(proc.Cmdline(st.Pid), z.name) && slices.Contains(proc.Cmdline(st.Pid), flag)
		})
	})
	return z.hostPidVal
}

// findHostPid returns the live process of this pid namespace whose pid in
// its own namespace is inner and that match accepts, or 0.
func findHostPid(inner int, match func(proc.Stat) bool) int {
	pids, err := proc.Pids()
	if err != nil {
		return 0
	}
	for _, pid := range pids {
		ns := proc.NSpids(pid)
		if len(ns) == 0 || ns[len(ns)-1] != inner {
			continue
		}
		if st, ok := proc.ReadStat(pid); ok && !st.Dead() && match(st) {
			return pid
		}
	}
	return 0
}

// Addr returns the address workers are forked through ("unix:/path" or
// "tcp:host:port"), with the zygote's secret after a "#": keep it as private
// as the socket. attachZygoteWith and WithZygoteAddr take it as it is.
func (z *Zygote) Addr() string { return z.addr }

// Exited is closed once the zygote process is gone (for an attached zygote:
// once its control connection is).
func (z *Zygote) Exited() <-chan struct{} { return z.exited }

// Stdout and Stderr capture the zygote's own output when this process
// started it (an attached zygote's are empty). Workers forked over a Unix
// socket have their own (Worker.Stdout); over TCP theirs go to the zygote's.
func (z *Zygote) Stdout() *Output {
	if z.owner == nil {
		return newOutput(0)
	}
	return z.owner.Stdout()
}

// Stderr: see Stdout.
func (z *Zygote) Stderr() *Output {
	if z.owner == nil {
		return newOutput(0)
	}
	return z.owner.Stderr()
}

// Attached reports whether another process owns the zygote.
func (z *Zygote) Attached() bool { return z.owner == nil }

// Forks returns how many workers were forked so far.
func (z *Zygote) Forks() int64 { return z.forks.Load() }

// Info returns the zygote's own description (children, preloads, modules).
func (z *Zygote) Info(ctx context.Context, reply any) error {
	return z.ctl.Call(ctx, "info", nil, reply)
}

// Hold makes the zygote live while process pid does, and end once every
// process it holds for has ended and nobody is attached (no fork alive, no
// control connection). It is how test binaries that share a warm host
// (plain `go test ./...` runs them in parallel, with no coordinator) let the
// last one out stop it: each holds for itself and for the go command that
// runs them. A zygote nobody ever asked to hold keeps its own lifetime
// (its owner, or the idle timeout of a warm host).
func (z *Zygote) Hold(ctx context.Context, pid int) error {
	if err := z.ctl.Call(ctx, "hold", map[string]int{"pid": pid}, nil); err != nil {
		return fmt.Errorf("realpy: zygote %s: hold for process %d: %w", z.id, pid, err)
	}
	return nil
}

// Fork returns a new worker forked from the zygote, ready to serve (it has
// answered the fork request as it would a ping). The caller closes it.
//
// When forking is not safe (the zygote has threads a forked child would
// miss: OpenMP, CUDA, gRPC, Python threads), the worker is a fresh
// interpreter the zygote spawns instead, with one warning line; under
// WithForkSafety(ForkStrict) Fork fails with a *ForkUnsafeError.
func (z *Zygote) Fork(ctx context.Context) (*Worker, error) {
	if err := z.ctl.Err(); err != nil {
		return nil, z.forkError(err)
	}
	mode, err := z.forkMode(ctx, false)
	if err != nil {
		return nil, err
	}
	w, err := z.forkAs(ctx, mode)
	if err != nil && mode == modeFork && refusedUnsafe(err) {
		// Forking became unsafe since the last check (a thread started).
		if mode, err = z.forkMode(ctx, true); err != nil {
			return nil, err
		}
		w, err = z.forkAs(ctx, mode)
	}
	return w, err
}

// forkAs asks the zygote for a worker in mode (modeFork, modeSpawn, modeUnchecked).
func (z *Zygote) forkAs(ctx context.Context, mode string) (*Worker, error) {
	n := z.forks.Add(1)
	id := z.id + "." + strconv.FormatInt(n, 10)
	network, address, secret := splitAddr(z.addr)
	conn, err := dialZygote(ctx, network, address)
	if err != nil {
		return nil, z.forkError(err)
	}
	proc := &forkedProcess{
		z:       z,
		out:     newOutput(z.cfg.outputLimit),
		err:     newOutput(z.cfg.outputLimit),
		exitedC: make(chan struct{}),
		doneC:   make(chan struct{}),
		forgetC: make(chan struct{}),
		spawned: mode == modeSpawn,
	}
	// Over a Unix socket the worker's stdout and stderr come back to us: two
	// pipes travel with the fork request (SCM_RIGHTS) and the child writes to
	// them. Over TCP (a container) they stay with the zygote.
	// A third descriptor is the worker's liveness channel.
	var writeEnds []*os.File
	var alive net.Conn
	if network == "unix" {
		outW, errW, err := proc.capture(id)
		if err != nil {
			conn.Close()
			return nil, z.forkError(err)
		}
		local, remote, err := spawnsock.Pair()
		if err != nil {
			conn.Close()
			outW.Close()
			errW.Close()
			proc.abandon()
			return nil, z.forkError(err)
		}
		alive = local
		writeEnds = []*os.File{outW, errW, remote}
	}
	w := newWorker(id, z.cfg, conn, proc, false)
	if writeEnds != nil {
		w.client.oob = unix.UnixRights(int(writeEnds[0].Fd()), int(writeEnds[1].Fd()), int(writeEnds[2].Fd()))
		w.alive = newLiveness(alive)
	}

	// owner_pid names this process as the fork's owner (the child's process
	// name), for leak checks when several processes share one zygote.
	// segments: this side reads segmented frames, which a readiness ping
	// would say (PROTOCOL.md, Segmented frames).
	req := map[string]any{"worker_id": id, "owner_pid": os.Getpid(), "secret": secret, "mode": mode, "segments": true}
	if z.cfg.concurrency > 1 {
		req["concurrency"] = z.cfg.concurrency
	}
	if z.cfg.syncThreads > 0 {
		req["sync_threads"] = z.cfg.syncThreads
	}
	err = w.client.handshake(ctx, "fork", req)
	for _, f := range writeEnds { // the child holds its own copies once the request is sent
		f.Close()
	}
	if err != nil {
		w.client.Close()
		w.alive.close()
		proc.abandon()
		<-w.watchDone
		return nil, z.forkError(err)
	}
	proc.start(w.client.Hello().Pid)
	how := "forked"
	if proc.spawned {
		how = "spawned by the zygote in place of a fork"
	}
	w.client.label = fmt.Sprintf("worker %s (pid %d, %s)", id, proc.pid(), how)
	w.client.multiplex(z.cfg.concurrency)
	w.track(ctx, ownership.ForkedWorker)
	return w, nil
}

// forkError explains a failed fork: which zygote, where, and where to look.
func (z *Zygote) forkError(err error) error {
	if re := resourceError("fork a worker from zygote "+z.id, err, false); re != nil {
		return re // out of descriptors here (the connection, the output pipes)
	}
	if re := forkFailed("fork a worker from zygote "+z.id, err); re != nil {
		return re // the zygote's fork(2) failed
	}
	hint := ""
	if errors.Is(err, wire.ErrWorkerExited) || errors.Is(err, wire.ErrProtocol) {
		hint = "; the zygote closed the connection before the forked worker answered: its own stderr says why"
		if z.owner == nil {
			hint += " (for a zygote in a container, the container's log: docker logs)"
		}
	}
	where, _, _ := strings.Cut(z.addr, "#")
	if gone := z.goneError(); gone != nil {
		// The zygote itself has ended: its exit (code, signal, who killed
		// it, its last stderr lines) is the cause, the dial's error only
		// how it showed.
		return fmt.Errorf("realpy: fork a worker from zygote %s at %s (%v): the zygote has ended: %w", z.id, where, err, gone)
	}
	if network, address, _ := splitAddr(z.addr); network == "unix" && errors.Is(err, syscall.ENOENT) {
		hint = fmt.Sprintf("; the zygote (pid %d) still runs but its socket %s is gone: something removed %s", z.pid, address, filepath.Dir(address))
	}
	return fmt.Errorf("realpy: fork a worker from zygote %s at %s: %w%s", z.id, where, err, hint)
}

// goneError is the zygote's exit, when this Zygote started it and it has
// ended; nil otherwise.
func (z *Zygote) goneError() *wire.WorkerExitedError {
	if z.owner == nil {
		return nil
	}
	select {
	case <-z.exited:
	default:
		return nil
	}
	if !z.owner.hasExited() {
		return nil
	}
	e := z.owner.exitError()
	e.WorkerID = z.id
	return e
}

// Close stops the zygote, which kills the workers it forked, and returns
// once the zygote is reaped, its forked workers are gone and every goroutine
// it started has ended. Close forked workers first for a clean shutdown of
// each. Idempotent and safe for concurrent use.
func (z *Zygote) Close() error {
	z.closeOnce.Do(func() {
		if z.owner != nil {
			z.closeErr = z.owner.Close() // the zygote kills and reaps its children
		} else {
			// The pids are the zygote's (maybe in a container's pid
			// namespace): a child visible from here is killed directly, the
			// others through the zygote, bounded by the grace period.
			ctx, cancel := context.WithTimeout(context.Background(), z.cfg.grace)
			for _, p := range z.liveChildren() {
				if !p.killDirectly(syscall.SIGKILL) {
					_ = z.ctl.Call(ctx, "kill", map[string]int{"pid": p.pid(), "signal": int(syscall.SIGKILL)}, nil)
				}
			}
			cancel()
			z.closeErr = z.ctl.Close()
		}
		z.watchers.Wait()
		if z.owner != nil {
			for _, p := range z.liveChildren() {
				waitGone(p.pid(), z.cfg.grace)
			}
		}
		if z.dir != "" {
			os.RemoveAll(z.dir)
		}
	})
	return z.closeErr
}

func (z *Zygote) liveChildren() []*forkedProcess {
	z.mu.Lock()
	defer z.mu.Unlock()
	ps := make([]*forkedProcess, 0, len(z.children))
	for _, p := range z.children {
		ps = append(ps, p)
	}
	return ps
}
