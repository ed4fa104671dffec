package realpy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pyharness/pyharness/internal/proc"
	"github.com/pyharness/pyharness/internal/pytree"
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
	cfg, err := newConfig(TargetHost, opts)
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
		if source, err = WorkerSource(); err != nil {
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
	root, err := CacheDir()
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
	secret := NewZygoteSecret()
	args := append(zygoteArgs(&cfg.procConfig), "--zygote-id", "host-"+filepath.Base(h.dir)[:8], "--listen", sock,
		"--daemon", "--log", filepath.Join(h.dir, "host.log"), "--record", filepath.Join(h.dir, "host.json"), "--watch-owners",
		"--idle-exit", strconv.FormatFloat(idle.Seconds(), 'f', -1, 64))
	cmd := exec.CommandContext(ctx, python, args...)
	cmd.Dir = cfg.dir
	var env []string
	for _, kv := range workerEnv(&cfg.procConfig, "host", source) {
		if !strings.HasPrefix(kv, EnvOwnerPid+"=") { // a host belongs to no run: orphan reaping leaves it alone
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, ZygoteSecretEnv+"="+secret, envHostKey+"="+h.key, envHostDir+"="+h.dir)
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

// EnvHostEnvIgnore names more environment variables to leave out of a warm
// host's key, comma-separated; a trailing * matches a prefix (MY_SESSION_*).
// Set it to variables that differ on every run and that the handlers do not
// read, or every run replaces the host. Left out always: PYHARNESS_* (the
// harness's own plumbing), TMPDIR (a fresh one per test), GOCOVERDIR (a
// fresh one per go test -cover run), _, PWD, OLDPWD and SHLVL (the shell's,
// and the package directory the go command runs each test binary in), and
// a login session's SSH_AUTH_SOCK, SSH_CLIENT, SSH_CONNECTION, SSH_TTY,
// GPG_TTY, WINDOWID, TMUX_PANE, TERM_SESSION_ID, XDG_SESSION_ID.
const EnvHostEnvIgnore = "PYHARNESS_HOST_ENV_IGNORE"

// volatileEnv are the variables left out of a host's key by default: they
// differ between runs (or between the test binaries of one run) and do not
// change what the handlers do. A trailing * matches a prefix.
var volatileEnv = []string{
	"PYHARNESS_*",                 // the harness's own: owner and run pids, run and worker ids, the secret, cache dir, reuse settings
	"TMPDIR",                      // a fresh directory per test (gotest's contamination check)
	"GOCOVERDIR",                  // a fresh directory per go test -cover run
	"_", "PWD", "OLDPWD", "SHLVL", // the shell's and the go command's: the package directory of each test binary
	"SSH_AUTH_SOCK", "SSH_CLIENT", "SSH_CONNECTION", "SSH_TTY", "GPG_TTY", "WINDOWID", "TMUX_PANE", "TERM_SESSION_ID", "XDG_SESSION_ID", // a login session's
}

// envIgnored reports whether the variable name is left out of the key.
func envIgnored(name string, extra []string) bool {
	for _, pat := range append(slices.Clip(volatileEnv), extra...) {
		pat = strings.TrimSpace(pat)
		if prefix, ok := strings.CutSuffix(pat, "*"); ok && strings.HasPrefix(name, prefix) || pat == name {
			return true
		}
	}
	return false
}

// keyInputs is what a host's key is made of, kept in its record so that a
// replaced host's Reason names what changed: a digest per variable of the
// environment that reaches the handlers, and per directory of the Python
// path.
type keyInputs struct {
	Interpreter string            `json:"interpreter"`
	Env         map[string]string `json:"env"`
	Path        []string          `json:"path"`
	Files       map[string]string `json:"files"` // every .py file under Path

}

// effectivePath returns every directory on the handlers' Python path, in
// order, absolute and once each: WithPythonPath, PYTHONPATH of WithEnv and
// the PYTHONPATH this process inherited (workerEnv's order).
func effectivePath(cfg *procConfig) ([]string, error) {
	dirs := slices.Clone(cfg.pythonPath)
	for _, kv := range cfg.env {
		if v, ok := strings.CutPrefix(kv, "PYTHONPATH="); ok {
			dirs = append(dirs, filepath.SplitList(v)...)
		}
	}
	dirs = append(dirs, filepath.SplitList(os.Getenv("PYTHONPATH"))...)
	var out []string
	for _, d := range dirs {
		if d == "" {
			continue
		}
		if !filepath.IsAbs(d) && cfg.dir != "" {
			d = filepath.Join(cfg.dir, d)
		}
		a, err := filepath.Abs(d)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out, nil
}

// hostKey returns the host's identity (its configuration: where it lives),
// its key (the identity, the interpreter, the environment that reaches the
// handlers and the content of the .py files on their Python path: whether
// it is current) and the inputs of the key. Reading the files is bounded by
// ctx; what it left out (lock, swap and backup files, files that are not
// regular or not readable) is returned in skipped.
func hostKey(ctx context.Context, cfg *procConfig, python, source string) (identity, key string, in keyInputs, skipped []pytree.Skipped, err error) {
	h := sha256.New()
	st, err := os.Stat(python)
	if err != nil {
		return "", "", in, nil, fmt.Errorf("realpy: interpreter %s: %w", python, err)
	}
	abs := make([]string, 0, len(cfg.pythonPath))
	for _, d := range cfg.pythonPath {
		a, err := filepath.Abs(d)
		if err != nil {
			return "", "", in, nil, err
		}
		abs = append(abs, a)
	}
	sourceSum := source
	if b, err := os.ReadFile(filepath.Join(source, completeMarker)); err == nil {
		sourceSum = string(b) // the content hash of the embedded worker
	}
	fmt.Fprintf(h, "python=%s size=%d mtime=%d\nworker=%s\nmodules=%q\npreload=%q\npath=%q\nenv=%q\nmaxframe=%d\ndir=%s\nuid=%d\n",
		python, st.Size(), st.ModTime().UnixNano(), sourceSum, cfg.modules, cfg.preload, abs, cfg.env, cfg.maxFrame, cfg.dir, os.Getuid())
	identity = hex.EncodeToString(h.Sum(nil))[:16]
	dirs, err := effectivePath(cfg)
	if err != nil {
		return "", "", in, nil, err
	}
	in = keyInputs{Interpreter: fmt.Sprintf("%s size=%d mtime=%d", python, st.Size(), st.ModTime().UnixNano()), Env: map[string]string{}, Files: map[string]string{}, Path: dirs}

	// The environment the host's handlers see (workerEnv, less the volatile).
	extra := strings.Split(os.Getenv(EnvHostEnvIgnore), ",")
	env := map[string]string{}
	for _, kv := range workerEnv(cfg, "host", source) {
		name, value, _ := strings.Cut(kv, "=")
		if !envIgnored(name, extra) {
			env[name] = value // later entries win, as in the process's environment
		}
	}
	for _, name := range slices.Sorted(maps.Keys(env)) {
		sum := sha256.Sum256([]byte(env[name]))
		in.Env[name] = hex.EncodeToString(sum[:8])
		fmt.Fprintf(h, "env %s=%x\n", name, sum)
	}

	fmt.Fprintf(h, "pythonpath=%q\n", dirs)
	for _, d := range dirs {
		s, err := hashPyFiles(ctx, d, func(path string, sum []byte) {
			in.Files[path] = hex.EncodeToString(sum[:8])
			fmt.Fprintf(h, "%s %x\n", path, sum)
		})
		skipped = append(skipped, s...)
		if err != nil {
			return "", "", in, skipped, fmt.Errorf("realpy: hashing the .py files under %s for the host key: %w", d, err)
		}
	}
	return identity, hex.EncodeToString(h.Sum(nil)), in, skipped, nil
}

// hashPyFiles adds the names and contents of the .py files under dir: regular
// files only, leaving out lock, swap and backup files (returned), within ctx.
// A path entry that is a file (a zip archive: zipimport) is hashed whole.
func hashPyFiles(ctx context.Context, dir string, add func(path string, sum []byte)) ([]pytree.Skipped, error) {
	if st, err := os.Stat(dir); err == nil && !st.IsDir() {
		f, _, err := pytree.OpenRegular(dir)
		if err != nil {
			return []pytree.Skipped{{Path: dir, Why: pytree.Why(err)}}, nil
		}
		defer f.Close()
		fh := sha256.New()
		if _, err := io.Copy(fh, ctxReader{ctx, f}); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return []pytree.Skipped{{Path: dir, Why: pytree.Why(err)}}, nil
		}
		add(dir, fh.Sum(nil))
		return nil, nil
	}
	isPy := func(rel string) bool { return strings.HasSuffix(rel, ".py") }
	noHidden := func(rel string, _ fs.FileInfo) error {
		if strings.HasPrefix(path.Base(rel), ".") {
			return filepath.SkipDir // no module is found there
		}
		return nil
	}
	return pytree.Walk(ctx, dir, isPy, noHidden, func(e pytree.Entry) error {
		fh := sha256.New()
		if _, err := io.Copy(fh, ctxReader{ctx, e.File}); err != nil {
			if ctx.Err() != nil {
				return err
			}
			return &pytree.SkipError{Why: pytree.Why(err)}
		}
		add(e.Path, fh.Sum(nil))
		return nil
	})
}

// ctxReader stops a read of a large file once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// changed says what differs between the inputs of a recorded key and now.
func (in keyInputs) changed(old keyInputs) string {
	if old.Env == nil && old.Files == nil {
		return "its configuration or a file under its Python path changed"
	}
	if in.Interpreter != old.Interpreter {
		return "the interpreter changed (" + in.Interpreter + ")"
	}
	var env []string
	for name, sum := range in.Env {
		if old.Env[name] != sum {
			env = append(env, name)
		}
	}
	for name := range old.Env {
		if _, ok := in.Env[name]; !ok {
			env = append(env, name+" (unset)")
		}
	}
	if len(env) > 0 {
		slices.Sort(env)
		return "the environment that reaches its handlers changed: " + strings.Join(env, ", ")
	}
	if !slices.Equal(in.Path, old.Path) {
		return fmt.Sprintf("its Python path changed: %s, was %s", strings.Join(in.Path, string(filepath.ListSeparator)), strings.Join(old.Path, string(filepath.ListSeparator)))
	}
	for _, path := range slices.Sorted(maps.Keys(in.Files)) {
		if sum, ok := old.Files[path]; !ok {
			return path + " is new on its Python path"
		} else if sum != in.Files[path] {
			return path + " changed since it started"
		}
	}
	for _, path := range slices.Sorted(maps.Keys(old.Files)) {
		if _, ok := in.Files[path]; !ok {
			return path + " is gone from its Python path"
		}
	}
	return "its configuration changed"
}

// writeRecord writes a host's record whole or not at all (a temporary file
// renamed over it): orphan reaping, Hosts and other runs read it without
// the host lock, and must never see half of it.
func writeRecord(path string, raw []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

func readHostRecord(dir string) (hostRecord, error) {
	var rec hostRecord
	raw, err := os.ReadFile(filepath.Join(dir, "host.json"))
	if err != nil {
		return rec, err
	}
	return rec, json.Unmarshal(raw, &rec)
}

// hostAlive reports whether pid is a running host with key (a session
// leader: its forks share its environment, not its session).
func hostAlive(pid int, key string) bool {
	st, ok := proc.ReadStat(pid)
	if !ok || st.Dead() || st.Session != pid {
		return false
	}
	got, _ := proc.Getenv(proc.Environ(pid), envHostKey)
	return got == key
}

// findHost returns the pid of the live host of dir, found by its
// environment (envHostDir): a session leader of this user. It is how a host
// whose record cannot be read is found. 0: none.
func findHost(dir string) int {
	pids, err := proc.Pids()
	if err != nil {
		return 0
	}
	for _, pid := range pids {
		st, ok := proc.ReadStat(pid)
		if !ok || st.Dead() || st.Session != pid {
			continue
		}
		if fi, err := os.Stat("/proc/" + strconv.Itoa(pid)); err != nil || int(fi.Sys().(*syscall.Stat_t).Uid) != os.Getuid() {
			continue
		}
		if got, _ := proc.Getenv(proc.Environ(pid), envHostDir); got == dir {
			return pid
		}
	}
	return 0
}

// stopHost kills the host recorded in dir (and its forks) and removes its
// record. A host whose record cannot be read is found by its environment.
func stopHost(dir string) error {
	pid := 0
	if rec, err := readHostRecord(dir); err == nil {
		if hostAlive(rec.Pid, rec.Key) {
			pid = rec.Pid
		}
	} else if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else {
		pid = findHost(dir)
	}
	if pid > 0 {
		_ = syscall.Kill(-pid, syscall.SIGKILL) // its process group: the zygote and the forks it made
		waitGone(pid, 5*time.Second)
	}
	_ = os.Remove(filepath.Join(dir, "host.json"))
	_ = os.Remove(filepath.Join(dir, "zygote.sock"))
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

// lockDir takes an exclusive lock on dir/lock, waiting (bounded by ctx) for
// another process that holds it.
func lockDir(ctx context.Context, dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("realpy: host lock: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- syscall.Flock(int(f.Fd()), syscall.LOCK_EX) }()
	select {
	case err := <-done:
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("realpy: host lock: %w", err)
		}
		return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
	case <-ctx.Done():
		go func() { // release the lock if it comes after all
			if <-done == nil {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
			}
			f.Close()
		}()
		return nil, fmt.Errorf("realpy: waiting for the host lock in %s: %w", dir, ctx.Err())
	}
}

// HostInfo describes a warm host, for `pyharness hosts`.
type HostInfo struct {
	Dir     string        `json:"dir"`
	Pid     int           `json:"pid"`
	Alive   bool          `json:"alive"`
	Age     time.Duration `json:"age"`
	Idle    time.Duration `json:"idle"`
	Modules []string      `json:"modules"`
	Preload []string      `json:"preload"`
	RSSKiB  int64         `json:"rss_kib"`
	// Record says why the host's record could not be read ("" when it
	// could): such a host is found by its environment, and Stop stops it.
	Record string `json:"record_error,omitempty"`
}

// Hosts lists the warm hosts of this user.
func Hosts(ctx context.Context) ([]HostInfo, error) {
	root, err := CacheDir()
	if err != nil {
		return nil, err
	}
	dirs, _ := filepath.Glob(filepath.Join(root, "hosts", "*"))
	var out []HostInfo
	for _, dir := range dirs {
		rec, err := readHostRecord(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			info := HostInfo{Dir: dir, Pid: findHost(dir), Record: err.Error()}
			if info.Pid > 0 {
				info.Alive, info.RSSKiB = true, proc.RSSKiB(info.Pid)
			}
			out = append(out, info)
			continue
		}
		info := HostInfo{Dir: dir, Pid: rec.Pid, Alive: hostAlive(rec.Pid, rec.Key), Age: time.Since(rec.Started).Round(time.Second),
			Modules: rec.Modules, Preload: rec.Preload, RSSKiB: proc.RSSKiB(rec.Pid)}
		if info.Alive {
			c, cancel := context.WithTimeout(ctx, hostTimeout)
			z, err := AttachZygote(c, "unix:"+filepath.Join(dir, "zygote.sock")+"#"+rec.Secret)
			if err == nil {
				var st struct{ Idle float64 }
				if z.Info(c, &st) == nil {
					info.Idle = time.Duration(st.Idle * float64(time.Second)).Round(time.Second)
				}
				_ = z.Close()
			}
			cancel()
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b HostInfo) int { return strings.Compare(a.Dir, b.Dir) })
	return out, nil
}

// StopHosts stops the warm hosts whose directory name starts with prefix
// (all of them for ""), and returns the directories it stopped.
func StopHosts(prefix string) ([]string, error) {
	root, err := CacheDir()
	if err != nil {
		return nil, err
	}
	dirs, _ := filepath.Glob(filepath.Join(root, "hosts", "*"))
	var stopped []string
	for _, dir := range dirs {
		if !strings.HasPrefix(filepath.Base(dir), prefix) {
			continue
		}
		if _, err := readHostRecord(dir); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := stopHost(dir); err != nil {
			return stopped, err
		}
		stopped = append(stopped, dir)
	}
	return stopped, nil
}
