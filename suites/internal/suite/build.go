package suite

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

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

	once   sync.Once
	done   chan struct{}
	dir    string
	path   string
	cached bool // the binary came from the cache: nothing was linked
	err    error
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
	// One child process does it all (the cache lookup, the build, the
	// copy into the cache), started at once: the go commands are its
	// children, not this process's, so that a spec's process check, whose
	// baseline has the child, sees nothing new when a step starts.
	cache := ""
	if dir, err := os.UserCacheDir(); err == nil {
		cache = filepath.Join(dir, "pyharness", "suite-builds")
	}
	// The key names the build by its arguments without the output path,
	// which is this run's own.
	cmd := exec.CommandContext(ctx, "sh", "-c", buildScript, "build", b.name, b.path, cache,
		strings.Join(b.list, "\x1f"), strings.Join(b.args(""), "\x1f"))
	cmd.Args = append(cmd.Args, b.args(b.path)...)
	raw, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(b.args(b.path), " "), err, raw)
	}
	b.cached = strings.Contains(string(raw), cachedLine)
	return nil
}

// cachedLine is what buildScript prints when it takes the binary from
// the cache.
const cachedLine = "pyharness suite build: cached\n"

// Cached reports whether the binary came from the cache of binaries
// linked from the same inputs (on an earlier run, or by another Build),
// once it is built.
func (b *Build) Cached() bool {
	<-b.done
	return b.cached
}

// buildScript builds $2 with `go "$@"` (after the first five arguments),
// unless a binary linked from the same inputs is in the cache $3: the key
// is the build's arguments without its output path ($5, unit-separated),
// the toolchain and the export data of every
// package it links (go list -export ($4, unit-separated) names them by
// content in Go's build cache, so a change to any of them names another
// binary). Linking is most of a warm run's time; a binary whose inputs are
// unchanged is linked once per machine. Either way the binary run is $2,
// this build's own (a link to, or a copy of, the cached one): a cache
// emptied meanwhile takes nothing from a running suite. Entries not used
// for a week are removed.
const buildScript = `set -e
name=$1 out=$2 cache=$3 list=$4 keyargs=$5; shift 5
if [ -n "$cache" ]; then
  # Each step's failure leaves the key empty (a build without the cache):
  # a key made of an error message would name every build alike.
  inputs=$(go env GOVERSION GOOS GOARCH GOFLAGS CGO_ENABLED) &&
    deps=$(IFS=$(printf '\037'); set -f; go $list) &&
    key=$(printf '%s\n' "$name" "$keyargs" "$inputs" "$deps" | sha256sum | cut -c1-24) || key=
  if [ -n "$key" ] && [ -x "$cache/$name-$key" ] &&
     { ln -f "$cache/$name-$key" "$out" 2>/dev/null || cp "$cache/$name-$key" "$out"; }; then
    touch "$cache/$name-$key"; echo 'pyharness suite build: cached'; exit 0
  fi
fi
go "$@"
if [ -n "$cache" ] && [ -n "$key" ] && mkdir -p "$cache" && cp "$out" "$cache/.tmp-$name-$$"; then
  mv -f "$cache/.tmp-$name-$$" "$cache/$name-$key"
  find "$cache" -type f -mtime +7 -delete 2>/dev/null || true
fi
`

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
