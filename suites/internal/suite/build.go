package suite

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"

	"github.com/pyharness/pyharness/internal/suitelife"
)

// Build is a binary that a package's specs need, built once per process,
// in the background: a stage's Start starts it (on process 1, beside the
// other stages' builds and setups, and, in a run on one process, beside
// the specs that need none of them), and the specs that need it wait for
// it; a spec that runs without the stage having started it starts it
// itself. Its directory is removed by Remove, which waits for a build
// still under way, so that no go command outlives the suite.
type Build struct {
	name string
	args func(out string) []string // the go command's arguments, writing out
	list []string                  // go list's arguments: the packages the binary is linked from

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
	list := []string{"list", "-deps", "-export", "-f", "{{.ImportPath}} {{.Export}}"}
	if args[0] == "test" {
		list = append(list, "-test")
	}
	for _, a := range args[1:] {
		if a != "-c" {
			list = append(list, a)
		}
	}
	return &Build{name: name, list: list, args: func(out string) []string {
		return append(append([]string{args[0]}, "-o", out), args[1:]...)
	}}
}

// Start starts the build, unless it has started.
func (b *Build) Start() {
	b.once.Do(func() {
		b.done = make(chan struct{})
		dir, err := os.MkdirTemp("", "pyharness-build-"+b.name+"-")
		if err != nil {
			b.err = fmt.Errorf("building %s: %w", b.name, err)
			close(b.done)
			return
		}
		b.dir, b.path = dir, filepath.Join(dir, b.name)
		go func() {
			defer close(b.done)
			b.err = b.run()
		}()
	})
}

func (b *Build) run() error {
	ctx, cancel := context.WithTimeout(context.Background(), suitelife.Timeout)
	defer cancel()
	cached := b.cached(ctx)
	if cached != "" {
		if _, err := os.Stat(cached); err == nil {
			now := time.Now()
			_ = os.Chtimes(cached, now, now) // used: prune keeps it
			b.path = cached
			return nil
		}
	}
	args := b.args(b.path)
	if raw, err := exec.CommandContext(ctx, "go", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, raw)
	}
	if cached != "" {
		b.keep(cached)
	}
	return nil
}

// cached is where the binary of this build is kept between runs, named by
// what it is linked from: the export data of every package it links (go
// list -export names them by content in the build cache, so a change to
// any of them, or to the toolchain, names another binary) and the build's
// arguments. Linking is most of a warm run's time; a binary whose inputs
// are unchanged is linked once per machine. "" when there is no cache.
func (b *Build) cached(ctx context.Context) string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	out, err := exec.CommandContext(ctx, "go", b.list...).Output()
	if err != nil {
		return ""
	}
	version, err := exec.CommandContext(ctx, "go", "env", "GOVERSION", "GOOS", "GOARCH", "GOFLAGS", "CGO_ENABLED").Output()
	if err != nil {
		return ""
	}
	h := sha256.New()
	fmt.Fprintf(h, "%q\n%q\n%s\n%s", b.name, b.args(""), version, out)
	return filepath.Join(dir, "pyharness", "suite-builds", b.name+"-"+hex.EncodeToString(h.Sum(nil))[:24])
}

// keep copies the binary just built to cached (atomically: a concurrent
// run sees it whole or not at all) and uses it from there; entries of the
// cache not used for a week are removed.
func (b *Build) keep(cached string) {
	if err := os.MkdirAll(filepath.Dir(cached), 0o755); err != nil {
		return
	}
	raw, err := os.ReadFile(b.path)
	if err != nil {
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(cached), ".tmp-"+b.name+"-")
	if err != nil {
		return
	}
	_, werr := tmp.Write(raw)
	cerr := tmp.Close()
	if werr != nil || cerr != nil || os.Chmod(tmp.Name(), 0o755) != nil || os.Rename(tmp.Name(), cached) != nil {
		os.Remove(tmp.Name())
		return
	}
	b.path = cached
	prune(filepath.Dir(cached), 7*24*time.Hour)
}

// prune removes the cached binaries of dir not used (built or found) within age.
func prune(dir string, age time.Duration) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > age {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// Handoff starts the build unless it has started and returns what a
// stage's First hands to every process: the binary's path. When the suite
// runs on several processes, it returns once the binary is built (the
// others cannot wait for process 1's build); on one, at once: the specs
// that need the binary wait for it (Binary), and the others run meanwhile.
func (b *Build) Handoff() []byte {
	ginkgo.GinkgoHelper()
	b.Start()
	if suiteConfig, _ := ginkgo.GinkgoConfiguration(); suiteConfig.ParallelTotal > 1 {
		_, err := b.Wait()
		gomega.Expect(err).NotTo(gomega.HaveOccurred())
	}
	return []byte(b.path)
}

// Binary is the path of the binary, which a process got from Handoff:
// process 1, which builds it, waits for the build to end (and fails the
// spec if it failed).
func (b *Build) Binary(handedOff string) string {
	ginkgo.GinkgoHelper()
	if ginkgo.GinkgoParallelProcess() != 1 {
		return handedOff
	}
	path, err := b.Wait()
	gomega.Expect(err).NotTo(gomega.HaveOccurred())
	return path
}

// Wait starts the build unless it has started, and returns the binary's
// path once it is built.
func (b *Build) Wait() (string, error) {
	b.Start()
	<-b.done
	return b.path, b.err
}

// Join waits for a build that has started to end (for the goroutine and
// the go command to be gone before the suite's end-of-suite check); it
// does nothing if the build never started.
func (b *Build) Join() {
	b.once.Do(func() {
		b.done = make(chan struct{})
		b.err = fmt.Errorf("building %s: joined before it started", b.name)
		close(b.done)
	})
	<-b.done
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
