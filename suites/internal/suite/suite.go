// Package suite is what the packages of pyharness's suites binary share
// (suites/suites_test.go links every package of suites/internal into one
// Ginkgo suite): describe-wrappers that keep a package's per-spec nodes to
// its own specs, where its testdata is, and child runs of the binary that
// register one package alone.
package suite

import (
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/onsi/ginkgo/v2"

	"github.com/pyharness/pyharness/internal/suitelife"
)

// OnlyEnv, set to a package's name (pool, isolation, ...) or to several,
// separated by commas, makes a run of the suites binary register those
// packages' specs and suite stages alone: a nested run that executes
// offending specs of one package, or a CI run of a few packages on the
// container backend, without the builds and pools of the others.
const OnlyEnv = "PYHARNESS_TEST_SUITES_ONLY"

// Run is the -test.run argument that selects the suites binary's Ginkgo suite.
const Run = "-test.run=^TestSuites$"

// Only is the environment entry of a child run that registers pkg alone.
func Only(pkg string) string { return OnlyEnv + "=" + pkg }

// Registers reports whether this run registers the specs of package pkg.
func Registers(pkg string) bool {
	only := os.Getenv(OnlyEnv)
	return only == "" || slices.Contains(strings.Split(only, ","), pkg)
}

// Describe is Ginkgo's Describe for a top-level container of package pkg:
// nodes (the package's per-spec setup: BeforeEach, VerifyNoLeaksPerSpec,
// ...) is called first inside the container, so that it applies to the
// package's specs and to no other package's. It registers nothing when
// the run registers another package alone.
func Describe(pkg string, nodes func(), text string, args ...any) bool {
	if !Registers(pkg) {
		return true
	}
	for i := len(args) - 1; i >= 0; i-- {
		if body, ok := args[i].(func()); ok {
			args[i] = func() {
				if nodes != nil {
					nodes()
				}
				body()
			}
			break
		}
	}
	return ginkgo.Describe(text, args...)
}

// Stage adds a suite-level stage of package pkg (a build, a fixture, a
// zygote: see internal/suitelife), unless the run registers another
// package alone.
func Stage(pkg string, s suitelife.Stage) bool {
	if !Registers(pkg) {
		return true
	}
	return suitelife.Add(s)
}

// Testdata is the absolute path of package pkg's testdata directory (the
// binary runs in suites/), joined with elem.
func Testdata(pkg string, elem ...string) string {
	dir, err := filepath.Abs(filepath.Join(append([]string{"internal", pkg, "testdata"}, elem...)...))
	if err != nil {
		panic(err)
	}
	return dir
}

// Rel is package pkg's directory relative to the binary's working
// directory, joined with elem: for `go test ./...` arguments and files read
// relative to it.
func Rel(pkg string, elem ...string) string {
	return "./" + filepath.Join(append([]string{"internal", pkg}, elem...)...)
}
