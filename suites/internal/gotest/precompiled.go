package gotest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/pyharness/pyharness/suites/internal/suite"
)

// The selection specs run the Ginkgo CLI seven times on two packages
// (testdata/_selected and the repository's gotest). The CLI compiles a
// package before it runs it, with `go test -c ./ --ldflags=-w -s --o=PATH`
// in the package's directory: a link of a second or more each time, and
// nothing the specs test. So each package is compiled once per process,
// with the same flags (in the background, from the gotest stage's Start),
// and the CLI finds on its PATH a go command that answers that exact
// command in one of those two directories by copying the binary compiled
// once to PATH, and hands every other command (go list, a build of any
// other package, or of these with other flags) to the real go. The CLI,
// its command line and the test binary it runs are what a user's
// `go tool ginkgo` runs.
var (
	selectedBuild = suite.GoBuild("selected.test", "test", "-c", "-ldflags=-w -s", suite.Rel("gotest", "testdata", "_selected"))
	gotestBuild   = suite.GoBuild("gotest.test", "test", "-c", "-ldflags=-w -s", "../gotest") // the repository's gotest, from suites/
)

// startSelected starts the builds and the look-up of the Ginkgo CLI.
func startSelected() {
	selectedBuild.Start()
	gotestBuild.Start()
	cliFound.Add(1)
	go func() {
		defer cliFound.Done()
		_, _ = ginkgoCLI()
	}()
}

var cliFound sync.WaitGroup

// ginkgoCLI is the path of the binary `go tool ginkgo` runs (go.mod's tool),
// built by the go command into its cache if it is not there yet.
var ginkgoCLI = sync.OnceValues(func() (string, error) {
	for range 2 {
		out, err := exec.Command("go", "tool", "-n", "ginkgo").Output()
		if err != nil {
			return "", fmt.Errorf("go tool -n ginkgo: %w", err)
		}
		path := strings.TrimSpace(string(out))
		if _, err := os.Stat(path); err == nil {
			return path, nil
		}
		if out, err := exec.Command("go", "tool", "ginkgo", "version").CombinedOutput(); err != nil {
			return "", fmt.Errorf("go tool ginkgo version: %w\n%s", err, out)
		}
	}
	return "", errors.New("go tool -n ginkgo names no file, even after go tool ginkgo ran")
})

var (
	shimMu  sync.Mutex
	shimDir string
)

// goShim waits for the builds and returns a directory holding the go
// command the CLI runs (written once per process).
var goShim = sync.OnceValues(func() (string, error) {
	script := "#!/bin/sh\n" +
		"# The gotest suite's go for the Ginkgo CLI's build of a package compiled once (suites/internal/gotest/precompiled.go).\n" +
		"if [ $# -eq 5 ] && [ \"$1\" = test ] && [ \"$2\" = -c ] && [ \"$3\" = ./ ] && [ \"$4\" = '--ldflags=-w -s' ]; then\n" +
		"\tcase \"$5\" in --o=*)\n" +
		"\t\td=$(pwd -P)\n"
	for _, b := range []struct {
		build *suite.Build
		pkg   string
	}{{selectedBuild, suite.Rel("gotest", "testdata", "_selected")}, {gotestBuild, "../gotest"}} {
		bin, err := b.build.Wait()
		if err != nil {
			return "", err
		}
		dir, err := filepath.Abs(b.pkg)
		if err == nil {
			dir, err = filepath.EvalSymlinks(dir)
		}
		if err != nil {
			return "", fmt.Errorf("the directory of %s: %w", b.pkg, err)
		}
		if err := quotable(dir, bin); err != nil {
			return "", err
		}
		script += fmt.Sprintf("\t\tif [ \"$d\" = '%s' ]; then exec cp '%s' \"${5#--o=}\"; fi\n", dir, bin)
	}
	real, err := exec.LookPath("go")
	if err == nil {
		real, err = filepath.Abs(real)
	}
	if err != nil {
		return "", fmt.Errorf("finding the go command: %w", err)
	}
	if err := quotable(real); err != nil {
		return "", err
	}
	script += "\tesac\nfi\nexec '" + real + "' \"$@\"\n"

	shimMu.Lock()
	defer shimMu.Unlock()
	dir, err := os.MkdirTemp("", "pyharness-go-shim-")
	if err != nil {
		return "", fmt.Errorf("the go command for the Ginkgo CLI: %w", err)
	}
	shimDir = dir
	if err := os.WriteFile(filepath.Join(dir, "go"), []byte(script), 0o755); err != nil {
		return "", fmt.Errorf("the go command for the Ginkgo CLI: %w", err)
	}
	return dir, nil
})

// quotable fails on a path that a single-quoted shell word cannot hold.
func quotable(paths ...string) error {
	for _, p := range paths {
		if strings.Contains(p, "'") {
			return fmt.Errorf("path %q holds a single quote: the go command for the Ginkgo CLI cannot name it", p)
		}
	}
	return nil
}

// removeSelected waits for what startSelected started and removes the
// builds and the go command.
func removeSelected() error {
	cliFound.Wait()
	shimMu.Lock()
	dir := shimDir
	shimMu.Unlock()
	var errs []error
	if dir != "" {
		errs = append(errs, os.RemoveAll(dir))
	}
	errs = append(errs, selectedBuild.Remove(), gotestBuild.Remove())
	return errors.Join(errs...)
}
