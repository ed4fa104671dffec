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
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pyharness/pyharness/internal/proc"
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
// it is never stale: it is found by a key that covers the interpreter, the
// worker, the modules, preloads, Python path and environment, and the
// content of every .py file under the WithPythonPath directories; every
// other file it imported is checked by size and mtime on attach. A host that
// does not answer a ping and a fork within a short bound is replaced.
//
// Forked workers are fresh every run; the zygote kills the forks of a run
// that died. Close detaches; Stop ends the host.
type Host struct {
	dir     string
	addr    string
	pid     int
	key     string
	Outcome HostOutcome
	Reason  string // for HostReplaced: what was wrong with the old host
	// StartTook is how long the host took to start (imports included): what
	// a run that reuses it saves.
	StartTook time.Duration
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
	identity, key, err := hostKey(&cfg.procConfig, python, source)
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

	h := &Host{dir: dir, key: key, Outcome: HostStarted}
	if rec, err := readHostRecord(dir); err == nil {
		h.addr = "unix:" + filepath.Join(dir, "zygote.sock") + "#" + rec.Secret
		h.pid = rec.Pid
		why := h.check(ctx, cfg, rec)
		if why == "" {
			h.Outcome = HostReused
			h.StartTook = time.Duration(rec.StartMS * float64(time.Millisecond))
			return h, nil
		}
		_ = stopHost(dir)
		h.Outcome, h.Reason = HostReplaced, why
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

// check returns why the recorded host cannot be reused, or "".
func (h *Host) check(ctx context.Context, cfg *config, rec hostRecord) string {
	if rec.Key != h.key {
		return "its configuration or a file under its Python path changed"
	}
	if !hostAlive(rec.Pid, h.key) {
		return "it is not running"
	}
	ctx, cancel := context.WithTimeout(ctx, hostTimeout)
	defer cancel()
	z, err := attachZygote(ctx, h.addr, &cfg.procConfig)
	if err != nil {
		return fmt.Sprintf("it did not answer: %v", err)
	}
	defer z.Close()
	var files [][]any
	if err := z.ctl.Call(ctx, "imports", nil, &files); err != nil {
		return fmt.Sprintf("it did not list its imports: %v", err)
	}
	for _, f := range files {
		if len(f) != 3 {
			return "it listed its imports in a form this version does not read"
		}
		path, _ := f[0].(string)
		size, _ := f[1].(json.Number).Int64()
		mtime, _ := f[2].(json.Number).Int64()
		st, err := os.Stat(path)
		if err != nil || st.Size() != size || st.ModTime().UnixNano() != mtime {
			return fmt.Sprintf("%s changed since it was imported", path)
		}
	}
	w, err := z.Fork(ctx)
	if err != nil {
		return fmt.Sprintf("it could not fork: %v", err)
	}
	_ = w.Close()
	return ""
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
		StartMS: float64(h.StartTook.Microseconds()) / 1000}
	raw, _ := json.Marshal(rec)
	if err := os.WriteFile(filepath.Join(h.dir, "host.json"), raw, 0o600); err != nil {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		return fmt.Errorf("realpy: record host: %w", err)
	}
	h.pid, h.addr = pid, "unix:"+sock+"#"+secret
	return nil
}

// hostKey returns the host's identity (its configuration: where it lives)
// and its key (the identity and the content of the Python path: whether it
// is current).
func hostKey(cfg *procConfig, python, source string) (identity, key string, err error) {
	h := sha256.New()
	st, err := os.Stat(python)
	if err != nil {
		return "", "", fmt.Errorf("realpy: interpreter %s: %w", python, err)
	}
	abs := make([]string, 0, len(cfg.pythonPath))
	for _, d := range cfg.pythonPath {
		a, err := filepath.Abs(d)
		if err != nil {
			return "", "", err
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
	for _, d := range abs {
		if err := hashPyFiles(h, d); err != nil {
			return "", "", err
		}
	}
	return identity, hex.EncodeToString(h.Sum(nil)), nil
}

// hashPyFiles adds the names and contents of the .py files under dir.
func hashPyFiles(h io.Writer, dir string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() && (d.Name() == "__pycache__" || strings.HasPrefix(d.Name(), ".") && path != dir) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".py") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		fmt.Fprintf(h, "%s %x\n", path, sum)
		return nil
	})
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

// stopHost kills the host recorded in dir (and its forks) and removes its record.
func stopHost(dir string) error {
	rec, err := readHostRecord(dir)
	if err != nil {
		return nil
	}
	if hostAlive(rec.Pid, rec.Key) {
		_ = syscall.Kill(-rec.Pid, syscall.SIGKILL) // its process group: the zygote and the forks it made
		waitGone(rec.Pid, 5*time.Second)
	}
	_ = os.Remove(filepath.Join(dir, "host.json"))
	_ = os.Remove(filepath.Join(dir, "zygote.sock"))
	return nil
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
		if err != nil {
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
		if _, err := readHostRecord(dir); err != nil {
			continue
		}
		if err := stopHost(dir); err != nil {
			return stopped, err
		}
		stopped = append(stopped, dir)
	}
	return stopped, nil
}
