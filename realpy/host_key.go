// Host: the warm host's key: what its configuration and source hash to.

package realpy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pyharness/pyharness/internal/pytree"
	"github.com/pyharness/pyharness/internal/workersrc"
)

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
	if b, err := os.ReadFile(filepath.Join(source, workersrc.CompleteMarker)); err == nil {
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
