package suite

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/pyharness/pyharness/internal/suitelife"
)

// Build is a binary that a package's specs need, built once per process,
// in the background: a stage's Start starts it (on process 1, beside the
// other stages' builds and setups), and the stage's First or a spec waits
// for it; a spec that runs without the stage having started it starts it
// itself. Its directory is removed by Remove, which waits for a build
// still under way, so that no go command outlives the suite.
type Build struct {
	name string
	args func(out string) []string // the go command's arguments, writing out

	once sync.Once
	done chan struct{}
	dir  string
	path string
	err  error
}

// GoBuild is a Build that runs `go args... -o <dir>/name` from the
// binary's working directory (suites/): args is, for example,
// {"test", "-c", Rel(pkg, "testdata", "_fixture")} or {"build", pkgPath}.
func GoBuild(name string, args ...string) *Build {
	return &Build{name: name, args: func(out string) []string {
		return append(append([]string{args[0]}, "-o", out), args[1:]...)
	}}
}

// Start starts the build, unless it has started.
func (b *Build) Start() {
	b.once.Do(func() {
		b.done = make(chan struct{})
		go func() {
			defer close(b.done)
			b.path, b.err = b.run()
		}()
	})
}

func (b *Build) run() (string, error) {
	dir, err := os.MkdirTemp("", "pyharness-build-"+b.name+"-")
	if err != nil {
		return "", fmt.Errorf("building %s: %w", b.name, err)
	}
	b.dir = dir
	out := filepath.Join(dir, b.name)
	ctx, cancel := context.WithTimeout(context.Background(), suitelife.Timeout)
	defer cancel()
	args := b.args(out)
	if raw, err := exec.CommandContext(ctx, "go", args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, raw)
	}
	return out, nil
}

// Wait starts the build unless it has started, and returns the binary's
// path once it is built.
func (b *Build) Wait() (string, error) {
	b.Start()
	<-b.done
	return b.path, b.err
}

// Remove waits for a build that has started and removes its directory;
// it does nothing if the build never started.
func (b *Build) Remove() error {
	started := true
	b.once.Do(func() {
		started = false
		b.done = make(chan struct{})
		b.err = fmt.Errorf("building %s: removed before it started", b.name)
		close(b.done)
	})
	if !started {
		return nil
	}
	<-b.done
	if b.dir == "" {
		return nil
	}
	return os.RemoveAll(b.dir)
}
