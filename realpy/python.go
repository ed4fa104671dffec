package realpy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pyharness/pyharness/internal/workersrc"
)

// shimDirs are the directory names version managers keep their shims in
// (pyenv, asdf, mise): scripts that only pick an interpreter and exec it.
var shimDirs = []string{"shims"}

// resolved memoises shim resolution: which real executable a shim runs does
// not change while a test binary runs, and asking costs a shim start.
var (
	resolveMu sync.Mutex
	resolved  = map[string]string{} // shim path -> real executable
)

// resolvePython returns the interpreter to start: explicit when non-empty, else
// $PYHARNESS_PYTHON, else python3 on PATH.
//
// A version manager's shim (a script in a directory named "shims", as
// pyenv, asdf and mise install them) is resolved once, bounded by ctx, to
// the executable it runs, so each start skips the shim's own start-up (about
// 75 ms with pyenv); a shim only chooses an interpreter, so nothing is lost.
// The resolution is cached in the cache directory, keyed by everything that
// decides it (the shim, the working directory, the managers' variables and
// version files), so later processes skip the shim too.
// Any other script is a wrapper and is run as given, every time: its
// environment and flags (a virtualenv's activation, `-X dev`,
// LD_LIBRARY_PATH) apply to every worker.
func resolvePython(ctx context.Context, explicit string) (string, error) {
	path, _, err := findPython(ctx, explicit)
	return path, err
}

// findPython is resolvePython that also says where the name came from.
func findPython(ctx context.Context, explicit string) (string, string, error) {
	name, from := explicit, "option WithPython"
	if name == "" {
		name, from = os.Getenv(EnvPython), "$"+EnvPython
	}
	if name == "" {
		name, from = "python3", "python3 on PATH"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return "", from, fmt.Errorf("realpy: python interpreter %q (from %s) not found: %w; install python3 or set %s to an interpreter", name, from, err, EnvPython)
	}
	if !isShim(path) {
		return path, from, nil
	}
	resolveMu.Lock()
	real, ok := resolved[path]
	resolveMu.Unlock()
	if ok {
		return real, from + ", shim " + path, nil
	}
	key := shimKey(path)
	if real, ok = readShimCache(key); !ok {
		if real, err = resolveShim(ctx, path, from); err != nil {
			return "", from, err
		}
		writeShimCache(key, real)
	}
	resolveMu.Lock()
	resolved[path] = real
	resolveMu.Unlock()
	return real, from + ", shim " + path, nil
}

// isShim reports whether path is a script in a version manager's shims directory.
func isShim(path string) bool {
	if !slices.Contains(shimDirs, filepath.Base(filepath.Dir(path))) {
		return false
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 2)
	n, _ := f.Read(head)
	return bytes.Equal(head[:n], []byte("#!"))
}

// shimTimeout bounds the resolution of a shim whose caller set no deadline:
// a shim that prints nothing by then is broken.
const shimTimeout = 30 * time.Second

// resolveShim returns the sys.executable of the interpreter a shim starts.
func resolveShim(ctx context.Context, path, from string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, shimTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "-c", "import sys; print(sys.executable)")
	// In a process group of its own, marked as ours, so that whatever the
	// shim starts dies with it, also when ctx ends first.
	cmd.Env = append(os.Environ(), EnvOwnerPid+"="+strconv.Itoa(os.Getpid()))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second // a child of the shim may hold stdout open
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // what the shim left behind
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return "", fmt.Errorf("realpy: resolve interpreter shim %s (from %s): %w", path, from, ctxErr)
	}
	if err != nil {
		return "", fmt.Errorf("realpy: interpreter shim %s (from %s) failed: %w%s; set %s to the interpreter itself",
			path, from, err, stderrSuffix(stderr.Bytes()), EnvPython)
	}
	real := strings.TrimSpace(string(out))
	if st, err := os.Stat(real); err != nil || !filepath.IsAbs(real) || st.IsDir() || st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("realpy: interpreter shim %s (from %s) printed %q for sys.executable, which is not an executable file; is it a Python interpreter? Set %s to one",
			path, from, truncate(real, 200), EnvPython)
	}
	return real, nil
}

// shimInputs are the files a version manager reads to choose an
// interpreter, looked for in the working directory and every parent.
var shimInputs = []string{".python-version", ".tool-versions", ".mise.toml", "mise.toml"}

// shimKey names a shim's resolution by everything that decides it: the
// shim (path, size, mtime), the working directory, the version managers'
// variables (PYENV_*, ASDF_*, MISE_*, and PATH), and the version files from
// the working directory up, and in the managers' homes. Another process with
// the same key gets the same interpreter, so the resolution is cached
// between processes (a test binary per package would otherwise pay a shim
// start each: 150-350 ms with pyenv).
func shimKey(shim string) string {
	h := sha256.New()
	stamp := func(path string) {
		if st, err := os.Stat(path); err == nil {
			fmt.Fprintf(h, "%s %d %d\n", path, st.Size(), st.ModTime().UnixNano())
		} else {
			fmt.Fprintf(h, "%s -\n", path)
		}
	}
	stamp(shim)
	cwd, _ := os.Getwd()
	fmt.Fprintf(h, "cwd %s\n", cwd)
	env := os.Environ()
	slices.Sort(env)
	for _, kv := range env {
		if strings.HasPrefix(kv, "PYENV_") || strings.HasPrefix(kv, "ASDF_") || strings.HasPrefix(kv, "MISE_") || strings.HasPrefix(kv, "PATH=") {
			fmt.Fprintf(h, "env %s\n", kv)
		}
	}
	for dir := cwd; ; dir = filepath.Dir(dir) {
		for _, name := range shimInputs {
			stamp(filepath.Join(dir, name))
		}
		if dir == filepath.Dir(dir) {
			break
		}
	}
	home, _ := os.UserHomeDir()
	root := os.Getenv("PYENV_ROOT")
	if root == "" {
		root = filepath.Join(home, ".pyenv")
	}
	stamp(filepath.Join(root, "version"))
	stamp(filepath.Join(home, ".tool-versions"))
	stamp(filepath.Join(home, ".config", "mise", "config.toml"))
	return hex.EncodeToString(h.Sum(nil))[:32]
}

func shimCachePath(key string) string {
	dir, err := workersrc.CacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "shims", key)
}

// readShimCache returns a cached resolution, if the executable is still there.
func readShimCache(key string) (string, bool) {
	path := shimCachePath(key)
	if path == "" {
		return "", false
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", false
	}
	real := strings.TrimSpace(string(b))
	if st, err := os.Stat(real); err != nil || !filepath.IsAbs(real) || st.IsDir() || st.Mode()&0o111 == 0 {
		return "", false
	}
	return real, true
}

// writeShimCache records a resolution; a failure only costs the next
// process a shim start.
func writeShimCache(key, real string) {
	path := shimCachePath(key)
	if path == "" || os.MkdirAll(filepath.Dir(path), 0o755) != nil {
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), key+".*")
	if err != nil {
		return
	}
	_, werr := tmp.WriteString(real + "\n")
	if cerr := tmp.Close(); werr != nil || cerr != nil {
		os.Remove(tmp.Name())
		return
	}
	if os.Rename(tmp.Name(), path) != nil {
		os.Remove(tmp.Name())
	}
}

// stderrSuffix formats the last 5 lines a failed command wrote to stderr.
func stderrSuffix(stderr []byte) string { return stderrTailSuffix(stderr, 5) }

// stderrTailSuffix formats the last n lines a failed command wrote to stderr.
func stderrTailSuffix(stderr []byte, n int) string {
	lines := tail(stderr, n)
	if len(lines) == 0 {
		return ""
	}
	return ":\n  " + strings.Join(lines, "\n  ")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
