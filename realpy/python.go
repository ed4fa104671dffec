package realpy

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// EnvPython names the interpreter to use when no option does.
const EnvPython = "PYHARNESS_PYTHON"

// resolved memoises shim resolution: which real executable a shim runs does
// not change while a test binary runs, and asking costs a shim start.
var resolved sync.Map // shim path -> real executable

// FindPython returns the interpreter to start: explicit when non-empty, else
// $PYHARNESS_PYTHON, else python3 on PATH. A shim (a script such as pyenv's
// or asdf's, rather than a binary) is resolved once to the real executable
// it runs, so each start skips the shim's own start-up (about 75 ms with
// pyenv).
func FindPython(explicit string) (string, error) {
	name, from := explicit, "option"
	if name == "" {
		name, from = os.Getenv(EnvPython), "$"+EnvPython
	}
	if name == "" {
		name, from = "python3", "PATH"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("realpy: python interpreter %q (from %s) not found: %w; install python3 or set %s", name, from, err, EnvPython)
	}
	if real, ok := resolved.Load(path); ok {
		return real.(string), nil
	}
	real, err := resolveShim(path)
	if err != nil {
		return "", err
	}
	resolved.Store(path, real)
	return real, nil
}

// resolveShim returns path itself for a binary, and for a script the
// sys.executable of the interpreter it starts.
func resolveShim(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("realpy: python interpreter %s: %w", path, err)
	}
	head := make([]byte, 2)
	n, _ := f.Read(head)
	f.Close()
	if !bytes.Equal(head[:n], []byte("#!")) {
		return path, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		return "", fmt.Errorf("realpy: resolve interpreter shim %s: %w", path, err)
	}
	real := strings.TrimSpace(string(out))
	if real == "" {
		return "", fmt.Errorf("realpy: interpreter shim %s reports no sys.executable", path)
	}
	return real, nil
}
