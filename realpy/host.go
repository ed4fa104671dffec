package realpy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pyharness/pyharness/internal/pytree"
	"github.com/pyharness/pyharness/internal/realpyx"
	"github.com/pyharness/pyharness/internal/workersrc"
)

// Environment of a warm host's process: how orphan reaping and `pyharness
// stop` recognise it.
const (
	envHostKey = "PYHARNESS_HOST_KEY"
	envHostDir = "PYHARNESS_HOST_DIR"
)

// HostOutcome says how StartHost got its host.
type HostOutcome string

const (
	HostStarted  HostOutcome = "started"  // there was none
	HostReused   HostOutcome = "reused"   // a warm one passed every check
	HostReplaced HostOutcome = "replaced" // there was one, stale or unhealthy (Reason says why), and a new one took its place
)

// Host is a zygote kept warm between runs: the first run starts it, later
// runs (and every parallel process of a run) fork their workers from it
// until it has been idle for WithHostIdle. Nothing is started by hand, and
// it is never stale: it is found by a key over the interpreter, the worker,
// the modules and preloads, the environment that reaches the handlers
// (inherited and WithEnv, less the volatile variables: EnvHostEnvIgnore)
// and the content of every .py file on their Python path (WithPythonPath,
// PYTHONPATH of WithEnv and the inherited PYTHONPATH); every other file it
// imported is checked by size and mtime on attach. A changed key replaces
// the host, and Reason names what changed. Hashing reads regular files only
// (a FIFO named x.py is left out, never opened for a blocking read), within
// StartHost's context; editor lock, swap and backup files and unreadable
// entries are left out and listed in Skipped.
//
// A host is replaced only on evidence: its process is gone, nothing listens
// on its socket, or it does not answer a ping and a fork within a short
// bound once connected. A socket whose backlog is full is retried until the
// context ends, and the host is left alone. A host whose record cannot be
// read is found by its process's environment, and stopped or replaced.
//
// Forked workers are fresh every run; the zygote kills the forks of a run
// that died. Close detaches; Stop ends the host.
type Host struct {
	dir     string
	addr    string
	pid     int
	key     string
	inputs  keyInputs
	Outcome HostOutcome
	Reason  string // for HostReplaced: what was wrong with the old host
	// StartTook is how long the host took to start (imports included): what
	// a run that reuses it saves.
	StartTook time.Duration
	// Skipped lists the files on the Python path the key left out, each
	// with why: editor lock, swap and backup files, and what is not a
	// readable regular file (a FIFO, a dangling link). StartHost also
	// prints them on one warning line to stderr.
	Skipped []string
}

func skippedPaths(s []pytree.Skipped) []string {
	var out []string
	for _, e := range s {
		out = append(out, e.String())
	}
	return out
}

// hostRecord is the host's file (host.json, 0600) in its directory.
type hostRecord struct {
	Pid     int       `json:"pid"`
	Key     string    `json:"key"`
	Secret  string    `json:"secret"`
	Started time.Time `json:"started"`
	Modules []string  `json:"modules"`
	Preload []string  `json:"preload"`
	StartMS float64   `json:"start_ms"`
	Inputs  keyInputs `json:"inputs"`
}

// Addr returns the host's address, with its secret, for WithZygoteAddr.
func (h *Host) Addr() string { return h.addr }

// Pid returns the host zygote's pid.
func (h *Host) Pid() int { return h.pid }

// Dir returns the host's directory (its socket, log and record).
func (h *Host) Dir() string { return h.dir }

// Close detaches from the host, which stays warm for the next run.
func (h *Host) Close() error { return nil }

// Stop ends the host now.
func (h *Host) Stop() error { return stopHost(h.dir) }

// hostSpares caps the spare workers a warm host keeps forked for the next
// run: as many as the fork requests it served since it last made spares, at
// most this many (docs/reuse.md).
const hostSpares = 16

// hostTimeout bounds the health check of a warm host on attach.
const hostTimeout = 2 * time.Second

// StartHost returns the warm host for these options: the one a previous run
// left, if it is current and healthy, else a new one. Concurrent callers
// (parallel test binaries) serialise on a lock and share one host.
//
// WithReuse(false) asks for a host of this run only (what gotest uses when
// reuse is off: the test binaries of one run share it, and it ends with the
// processes that Zygote.Hold it). It is kept apart from the warm hosts that
// reuse runs leave: it neither attaches to one, nor stops or replaces it.
func StartHost(ctx context.Context, opts ...Option) (*Host, error) {
	cfg, err := newConfig(targetHost, opts)
	if err != nil {
		return nil, err
	}
	if err := reapOrphansOnce(); err != nil {
		return nil, err
	}
	ctx, cancel, err := cfg.startContext(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	python, _, err := findPython(ctx, cfg.python)
	if err != nil {
		return nil, err
	}
	source := cfg.workerSource
	if source == "" {
		if source, err = workersrc.Dir(); err != nil {
			return nil, err
		}
	}
	identity, key, inputs, skipped, err := hostKey(ctx, &cfg.procConfig, python, source)
	if line := pytree.Line("StartHost: hashing the Python path", skipped); line != "" {
		fmt.Fprintln(os.Stderr, line)
	}
	if err != nil {
		return nil, err
	}
	if runOnly(opts) {
		// Another directory and another key: a held host of a run without
		// reuse and the warm host of a reuse run never meet.
		identity, key = identity+runOnlySuffix, key+runOnlySuffix
	}
	root, err := workersrc.CacheDir()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(root, "hosts", identity)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("realpy: host directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, err
	}
	unlock, err := lockDir(ctx, dir)
	if err != nil {
		return nil, err
	}
	defer unlock()

	h := &Host{dir: dir, key: key, inputs: inputs, Outcome: HostStarted, Skipped: skippedPaths(skipped)}
	if rec, err := readHostRecord(dir); err == nil {
		h.addr = "unix:" + filepath.Join(dir, "zygote.sock") + "#" + rec.Secret
		h.pid = rec.Pid
		why, err := h.check(ctx, cfg, rec)
		if err != nil {
			return nil, err
		}
		if why == "" {
			h.Outcome = HostReused
			h.StartTook = time.Duration(rec.StartMS * float64(time.Millisecond))
			return h, nil
		}
		_ = stopHost(dir)
		h.Outcome, h.Reason = HostReplaced, why
	} else if !errors.Is(err, fs.ErrNotExist) {
		// A record that cannot be read: the host it describes is found
		// by its environment and stopped, never left running beside a new one.
		pid := findHost(dir)
		_ = stopHost(dir)
		h.Outcome, h.Reason = HostReplaced, fmt.Sprintf("its record could not be read (%v)", err)
		if pid > 0 {
			h.Reason += fmt.Sprintf("; its process %d was found by its environment and stopped", pid)
		}
	}
	if err := h.start(ctx, cfg, python, source); err != nil {
		return nil, err
	}
	return h, nil
}

// runOnlySuffix marks the directory and key of a host of one run only.
const runOnlySuffix = "-run"

// runOnly reports whether opts say WithReuse(false): a host for this run
// only. Without WithReuse, StartHost keeps its host warm between runs.
func runOnly(opts []Option) bool {
	set, reuse := false, false
	for _, o := range opts {
		if o.name == "WithReuse" && o.apply != nil {
			var c config
			o.apply(&c)
			set, reuse = true, c.reuse
		}
	}
	return set && !reuse
}

// check returns why the recorded host cannot be reused, or "". A host is
// declared dead only on evidence: its process is gone, nothing listens on
// its socket, or it does not answer within hostTimeout after a connection
// was made. A socket whose backlog is full (a burst of attaches) is no
// evidence: the connect is retried until ctx ends, and then StartHost
// returns an error and leaves the host alone.
func (h *Host) check(ctx context.Context, cfg *config, rec hostRecord) (string, error) {
	if rec.Key != h.key {
		return h.inputs.changed(rec.Inputs), nil
	}
	if !hostAlive(rec.Pid, h.key) {
		return "it is not running", nil
	}
	network, address, _ := splitAddr(h.addr)
	conn, err := dialZygote(ctx, network, address)
	switch {
	case err == nil:
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, fs.ErrNotExist):
		return fmt.Sprintf("nothing listens on its socket: %v", err), nil
	case ctx.Err() != nil:
		return "", fmt.Errorf("realpy: warm host %s (pid %d) is running, but its socket took no connection before the context ended "+
			"(its listen backlog stayed full); it was left alone: %w", h.dir, rec.Pid, err)
	default:
		return fmt.Sprintf("it could not be reached: %v", err), nil
	}
	ctx, cancel := context.WithTimeout(ctx, hostTimeout)
	defer cancel()
	z, err := attachZygoteConn(ctx, conn, h.addr, &cfg.procConfig)
	if err != nil {
		return fmt.Sprintf("it did not answer within %v of a connection: %v", hostTimeout, err), nil
	}
	defer z.Close()
	var files [][]any
	if err := z.ctl.Call(ctx, "imports", nil, &files); err != nil {
		return fmt.Sprintf("it did not list its imports: %v", err), nil
	}
	for _, f := range files {
		if len(f) != 3 {
			return "it listed its imports in a form this version does not read", nil
		}
		path, _ := f[0].(string)
		size, _ := f[1].(json.Number).Int64()
		mtime, _ := f[2].(json.Number).Int64()
		st, err := os.Stat(path)
		if err != nil || st.Size() != size || st.ModTime().UnixNano() != mtime {
			return fmt.Sprintf("%s changed since it was imported", path), nil
		}
	}
	w, err := z.Fork(ctx)
	if err != nil {
		return fmt.Sprintf("it could not fork: %v", err), nil
	}
	_ = w.Close()
	return "", nil
}

// start starts a new host, detached (a session of its own), and records it.
func (h *Host) start(ctx context.Context, cfg *config, python, source string) error {
	idle := cfg.hostIdle
	if idle == 0 {
		idle = DefaultHostIdle
		if env := os.Getenv(EnvHostIdle); env != "" {
			d, err := time.ParseDuration(env)
			if err != nil || d <= 0 {
				return fmt.Errorf("realpy: $%s=%q is not a positive Go duration (15m, 30s)", EnvHostIdle, env)
			}
			idle = d
		}
	}
	sock := filepath.Join(h.dir, "zygote.sock")
	_ = os.Remove(sock)
	secret := realpyx.NewZygoteSecret()
	args := append(zygoteArgs(&cfg.procConfig), "--zygote-id", "host-"+filepath.Base(h.dir)[:8], "--listen", sock,
		"--daemon", "--log", filepath.Join(h.dir, "host.log"), "--record", filepath.Join(h.dir, "host.json"), "--watch-owners",
		"--idle-exit", strconv.FormatFloat(idle.Seconds(), 'f', -1, 64), "--spares", strconv.Itoa(hostSpares))
	cmd := exec.CommandContext(ctx, python, args...)
	cmd.Dir = cfg.dir
	var env []string
	for _, kv := range workerEnv(&cfg.procConfig, "host", source) {
		if !strings.HasPrefix(kv, EnvOwnerPid+"=") { // a host belongs to no run: orphan reaping leaves it alone
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, realpyx.ZygoteSecretEnv+"="+secret, envHostKey+"="+h.key, envHostDir+"="+h.dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	began := time.Now()
	out, err := cmd.Output()
	h.StartTook = time.Since(began)
	if err != nil {
		logTail, _ := os.ReadFile(filepath.Join(h.dir, "host.log"))
		return fmt.Errorf("realpy: start host %s: %w%s%s", h.dir, err, stderrTailSuffix(stderr.Bytes(), cfg.stderrTail), stderrTailSuffix(logTail, cfg.stderrTail))
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		return fmt.Errorf("realpy: start host %s: it printed %q, not its pid", h.dir, out)
	}
	rec := hostRecord{Pid: pid, Key: h.key, Secret: secret, Started: time.Now(), Modules: cfg.modules, Preload: cfg.preload,
		StartMS: float64(h.StartTook.Microseconds()) / 1000, Inputs: h.inputs}
	raw, _ := json.Marshal(rec)
	if err := writeRecord(filepath.Join(h.dir, "host.json"), raw); err != nil {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		return fmt.Errorf("realpy: record host: %w", err)
	}
	h.pid, h.addr = pid, "unix:"+sock+"#"+secret
	return nil
}

// dialZygote connects to a zygote's socket. A Unix socket whose listen
// backlog is full refuses a non-blocking connect with EAGAIN: that is load,
// not absence, so the connect is retried (with a growing pause) until ctx
// ends.
func dialZygote(ctx context.Context, network, address string) (net.Conn, error) {
	var d net.Dialer
	pause := time.Millisecond
	for {
		conn, err := d.DialContext(ctx, network, address)
		if err == nil || !errors.Is(err, syscall.EAGAIN) {
			return conn, err
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w (the listen backlog stayed full: %v)", ctx.Err(), err)
		case <-t.C:
		}
		pause = min(2*pause, 50*time.Millisecond)
	}
}
