// The errors of building and starting an image, and the build log's tail.

package container

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	tclog "github.com/testcontainers/testcontainers-go/log"
)

// buildLogLines is how much of a failed build's log an error carries.
const buildLogLines = 20

// BuildError says a docker build failed: which image, from what, the
// engine's error and the last lines of the build's log.
type BuildError struct {
	Image  string // the tag it was to have
	Kind   string // KindDockerfile, KindPackages or KindWorker
	Inputs string // what it was made from
	Err    error
	Log    []string // the build log's last lines, escape codes removed

	lines []string // all of it, for missingPackages
}

func (e *BuildError) Error() string {
	msg := fmt.Sprintf("pyharness image: building %s (%s %s) failed: %v", e.Image, e.Kind, e.Inputs, e.Err)
	if len(e.Log) > 0 {
		msg += "; the build log ends:\n\t" + strings.Join(e.Log, "\n\t")
	}
	return msg
}

func (e *BuildError) Unwrap() error { return e.Err }

// aptMissing finds apt's lines for a package it does not have.
var aptMissing = []*regexp.Regexp{
	regexp.MustCompile(`^E: Unable to locate package (\S+)`),
	regexp.MustCompile(`^E: Package '([^']+)' has no installation candidate`),
	regexp.MustCompile(`^E: Version '[^']+' for '([^']+)' was not found`),
	regexp.MustCompile(`^E: Release '[^']+' for '([^']+)' was not found`),
}

// missingPackages returns the packages apt said it cannot find.
func (e *BuildError) missingPackages() []string {
	var names []string
	for _, line := range e.lines {
		for _, re := range aptMissing {
			if m := re.FindStringSubmatch(line); m != nil && !slices.Contains(names, m[1]) {
				names = append(names, m[1])
			}
		}
	}
	return names
}

// PackageError says WithPackages named packages the image cannot have: not
// a package name, or one apt does not find in the image's sources.
type PackageError struct {
	Packages []string
	Base     string // the image they were to be installed on
	Reason   string
	Build    *BuildError // the failed build, when there was one
}

func (e *PackageError) Error() string {
	noun := "package"
	if len(e.Packages) > 1 {
		noun = "packages"
	}
	msg := fmt.Sprintf("pyharness image: WithPackages: %s %s on %s: %s", noun, strings.Join(e.Packages, ", "), e.Base, e.Reason)
	if e.Build != nil && e.Build.Inputs != "" {
		msg += " (the list: " + e.Build.Inputs + ")"
	}
	return msg
}

func (e *PackageError) Unwrap() error {
	if e.Build == nil {
		return nil
	}
	return e.Build
}

// NoPythonError says the container could not start its interpreter: the
// image has no python3 (or no interpreter where realpy.WithPython says).
type NoPythonError struct {
	Image  string
	Python string
	Err    error
}

func (e *NoPythonError) Error() string {
	return fmt.Sprintf("pyharness container: image %s has no %s to run the worker with (%v): use an image with Python 3 "+
		"(on Debian, container.WithPackages(\"python3\")), or name its interpreter with realpy.WithPython", e.Image, e.Python, e.Err)
}

func (e *NoPythonError) Unwrap() error { return e.Err }

// noPython matches the engine's error for an entrypoint it cannot exec.
var noPython = regexp.MustCompile(`executable file not found in \$PATH|no such file or directory: unknown`)

// startError types the error of starting the container.
func startError(err error, image, python string) error {
	if noPython.MatchString(err.Error()) {
		return &NoPythonError{Image: image, Python: python, Err: err}
	}
	return fmt.Errorf("pyharness container: %w", err)
}

// tail keeps the last n lines written to it (and every line, for the apt
// errors), without terminal escapes.
type tail struct {
	mu      sync.Mutex
	n       int
	partial []byte
	all     []string
}

func newTail(n int) *tail { return &tail{n: n} }

var escapes = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.partial = append(t.partial, p...)
	for {
		i := bytes.IndexAny(t.partial, "\r\n")
		if i < 0 {
			break
		}
		line := strings.TrimSpace(escapes.ReplaceAllString(string(t.partial[:i]), ""))
		t.partial = t.partial[i+1:]
		if line != "" {
			t.all = append(t.all, line)
		}
	}
	return len(p), nil
}

// Lines returns the last n complete lines, and what is left unterminated.
func (t *tail) Lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if rest := strings.TrimSpace(escapes.ReplaceAllString(string(t.partial), "")); rest != "" {
		t.all = append(t.all, rest)
		t.partial = nil
	}
	return append([]string(nil), t.all[max(0, len(t.all)-t.n):]...)
}

// logf writes one line through testcontainers' logger (GinkgoWriter on the
// container backend; nothing without WithLogger).
func logf(format string, v ...any) { tclog.Printf(format, v...) }
