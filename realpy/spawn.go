package realpy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/pyharness/pyharness/internal/proc"
	"github.com/pyharness/pyharness/internal/spawnsock"
	"github.com/pyharness/pyharness/internal/workersrc"
	"github.com/pyharness/pyharness/wire"
	"golang.org/x/sys/unix"
)

// spawnedProcess is an interpreter started by this Go process, in a process
// group of its own, talking over one end of a socketpair on its fd 3.
type spawnedProcess struct {
	cmd      *exec.Cmd
	python   string   // the interpreter started
	from     string   // where its name came from (option, $PYHARNESS_PYTHON, PATH)
	phaseDir string   // holds the file the start's phases are written to (startphase.go)
	path     []string // the directories on its PYTHONPATH
	exe      string   // what it ran when its start failed (noteStart)
	id       int
	out, err *Output

	mu     sync.Mutex
	reaped bool // set just before the reap: signals may no longer target the group

	exitedC  chan struct{}
	doneC    chan struct{}
	exitCode int
	exitSig  syscall.Signal
}

// spawn starts python with args, the worker package on PYTHONPATH, and one
// end of a socketpair as fd 3 (and, with liveness, of another as fd 4); it
// returns the other ends.
func spawn(ctx context.Context, cfg *procConfig, id string, args []string, liveness bool, env ...string) (*spawnedProcess, []net.Conn, error) {
	python, from, err := findPython(ctx, cfg.python)
	if err != nil {
		return nil, nil, err
	}
	if cfg.dir != "" {
		if st, err := os.Stat(cfg.dir); err != nil || !st.IsDir() {
			return nil, nil, fmt.Errorf("realpy: working directory %q (WithDir) is not a directory: %v", cfg.dir, err)
		}
	}
	source := cfg.workerSource
	if source == "" {
		if source, err = workersrc.Dir(); err != nil {
			return nil, nil, err
		}
	}
	if cfg.runID != "" {
		args = append(args, "--run-id", cfg.runID)
	}
	phaseDir, err := proc.MkdirTemp("start")
	if err != nil {
		return nil, nil, fmt.Errorf("realpy: start %s: %w", id, err)
	}
	cmd := exec.Command(python, args...)
	cmd.Dir = cfg.dir
	cmd.Env = append(workerEnv(cfg, id, source), env...)
	cmd.Env = append(cmd.Env, envStartPhase+"="+filepath.Join(phaseDir, "phase"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = cfg.grace
	p := &spawnedProcess{
		cmd:      cmd,
		python:   python,
		from:     from,
		phaseDir: phaseDir,
		path:     pythonPathOf(cmd.Env),
		out:      newOutput(cfg.outputLimit),
		err:      newOutput(cfg.outputLimit),
		exitedC:  make(chan struct{}),
		doneC:    make(chan struct{}),
		exitCode: -1,
	}
	cmd.Stdout, cmd.Stderr = p.out, p.err
	if cfg.output != nil {
		cmd.Stdout = io.MultiWriter(p.out, prefixed(cfg.output, "["+id+" stdout] "))
		cmd.Stderr = io.MultiWriter(p.err, prefixed(cfg.output, "["+id+" stderr] "))
	}
	sockets := 1
	if liveness {
		sockets = 2
		cmd.Args = append(cmd.Args, "--alive-fd", "4")
	}
	conns, err := spawnsock.Start(cmd, sockets)
	if err != nil {
		p.endStart()
		if re := resourceError(fmt.Sprintf("spawn %s (interpreter %s)", id, python), err, true); re != nil {
			return nil, nil, re // not the interpreter's fault: no hint at PYHARNESS_PYTHON
		}
		return nil, nil, fmt.Errorf("realpy: interpreter %s (from %s) could not be started: %w; set %s to a python3", python, from, err, EnvPython)
	}
	p.id = cmd.Process.Pid
	if cfg.onSpawn != nil {
		cfg.onSpawn(p.id)
	}
	go p.wait()
	return p, conns, nil
}

// workerEnv is the interpreter's environment: ours, WithEnv's entries, then
// what the worker needs, which WithEnv cannot override: PYTHONPATH (WithEnv's
// PYTHONPATH is merged in, not a replacement), unbuffered output and the
// markers orphan reaping and leak checks find it by.
func workerEnv(cfg *procConfig, id, source string) []string {
	path := append([]string{source}, cfg.pythonPath...)
	env := os.Environ()
	for _, kv := range cfg.env {
		if dirs, ok := strings.CutPrefix(kv, "PYTHONPATH="); ok {
			if dirs != "" {
				path = append(path, dirs)
			}
			continue
		}
		env = append(env, kv)
	}
	env = append(env, cfg.threadLimits().env()...) // before the interpreter starts: libraries read them as they load
	if existing := os.Getenv("PYTHONPATH"); existing != "" {
		path = append(path, existing)
	}
	env = append(env,
		"PYTHONPATH="+strings.Join(path, string(filepath.ListSeparator)),
		"PYTHONUNBUFFERED=1",
		EnvOwnerPid+"="+strconv.Itoa(os.Getpid()),
		EnvWorkerID+"="+id,
	)
	if cfg.runID != "" {
		env = append(env, EnvRunID+"="+cfg.runID)
	}
	return env
}

// wait observes the exit without reaping it, kills whatever else is left in
// the process group (whose id cannot be reused while the zombie exists),
// then reaps the process and drains its output.
func (p *spawnedProcess) wait() {
	defer close(p.doneC)
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, p.id, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	p.mu.Lock()
	_ = syscall.Kill(-p.id, syscall.SIGKILL)
	p.reaped = true
	p.mu.Unlock()

	_ = p.cmd.Wait()
	if status, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && status.Signaled() {
		p.exitSig = status.Signal()
		p.exitCode = 128 + int(status.Signal())
	} else {
		p.exitCode = p.cmd.ProcessState.ExitCode()
	}
	p.out.Close()
	p.err.Close()
	close(p.exitedC)
}

func (p *spawnedProcess) pid() int                { return p.id }
func (p *spawnedProcess) forget()                 {} // SIGKILL always ends and reaps our own child
func (p *spawnedProcess) hostPid() int            { return p.id }
func (p *spawnedProcess) exited() <-chan struct{} { return p.exitedC }
func (p *spawnedProcess) done() <-chan struct{}   { return p.doneC }
func (p *spawnedProcess) stdout() *Output         { return p.out }
func (p *spawnedProcess) stderr() *Output         { return p.err }
func (p *spawnedProcess) status() (int, syscall.Signal) {
	return p.exitCode, p.exitSig
}

func (p *spawnedProcess) signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reaped {
		return nil
	}
	if err := syscall.Kill(-p.id, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}

// missingPythonPaths says which WithPythonPath directories do not exist,
// resolved as the interpreter sees them (a relative one against the
// working directory): the likely reason a module was not found.
func missingPythonPaths(dirs []string) string {
	var out []string
	for _, d := range dirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			abs = d
		}
		if _, err := os.Stat(abs); errors.Is(err, fs.ErrNotExist) {
			out = append(out, fmt.Sprintf("WithPythonPath(%q) is %s, which does not exist", d, abs))
		}
	}
	if len(out) == 0 {
		return ""
	}
	return "; " + strings.Join(out, "; ") + " (a relative path is resolved against the working directory: the package's directory under go test)"
}

// startError explains why a spawned interpreter did not answer its readiness
// ping: it exited (not Python, the worker package missing, a module that
// failed to import) or it did not answer before the start's deadline (an
// import that hangs). what is "worker" or "zygote".
func startError(what string, p *spawnedProcess, cfg *procConfig, err error) error {
	tailLines := tail(p.stderr().Contents(), cfg.stderrTail)
	stderr := "it wrote nothing to stderr"
	if len(tailLines) > 0 {
		stderr = "its stderr ends:\n    " + strings.Join(tailLines, "\n    ")
	}
	var exited *wire.WorkerExitedError
	switch {
	case errors.As(err, &exited) && exited.Code == exitStartFailed:
		return fmt.Errorf("realpy: start %s: the interpreter %s (from %s) could not load a module named with WithModules or WithPreload: %w%s",
			what, p.python, p.from, err, missingPythonPaths(cfg.pythonPath))
	case errors.As(err, &exited):
		stdout := ""
		if out := tail(p.stdout().Contents(), 3); len(out) > 0 {
			stdout = "; its stdout ends:\n    " + strings.Join(out, "\n    ")
		}
		return fmt.Errorf("realpy: start %s: the interpreter %s (from %s) ended before answering the readiness ping: %w%s; "+
			"is it Python >= 3.9? Set %s (or WithPython) to a python3", what, p.python, p.from, err, stdout, EnvPython)
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		return fmt.Errorf("realpy: start %s: the interpreter %s (from %s) did not answer the readiness ping before the start's deadline (WithStartTimeout %v, or the context's): %w; "+
			"%s; %s", what, p.python, p.from, cfg.startTimeout, err, p.phaseText(), stderr)
	}
	return fmt.Errorf("realpy: start %s: %w", what, err)
}

// exitStartFailed is the worker's exit code when it cannot start (PROTOCOL.md).
const exitStartFailed = 2
