// Package callsite finds the user's line on the stack: where a spec (or the
// user's code) called into pyharness, so failures can be reported there and
// not inside the library.
package callsite

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
)

// module is the import path of pyharness; its packages are the library.
const module = "github.com/pyharness/pyharness"

// Frame is one line of the user's code.
type Frame struct {
	File     string
	Line     int
	Function string
}

// String is file:line with the file's base name, as go test prints it.
func (f Frame) String() string {
	if f.File == "" {
		return ""
	}
	return fmt.Sprintf("%s:%d", filepath.Base(f.File), f.Line)
}

// Long is file:line with the full path, as Ginkgo prints it.
func (f Frame) Long() string {
	if f.File == "" {
		return ""
	}
	return fmt.Sprintf("%s:%d", f.File, f.Line)
}

// User walks the stack above its caller, skip frames up, and returns the
// user's frame and its depth (0 is User's caller): the first frame in a
// _test.go file (or in pyharness's own suites), else the first frame outside pyharness, the Go runtime and
// the test frameworks. ok is false when neither is on the stack (a call made
// on a goroutine of the library's own).
func User(skip int) (f Frame, depth int, ok bool) {
	pcs := make([]uintptr, 64)
	n := runtime.Callers(skip+2, pcs)
	return userFrame(runtime.CallersFrames(pcs[:n]))
}

func userFrame(frames *runtime.Frames) (f Frame, depth int, ok bool) {
	outside, outsideDepth, haveOutside := Frame{}, 0, false
	for i := 0; ; i++ {
		fr, more := frames.Next()
		if fr.Function != "" {
			cur := Frame{File: fr.File, Line: fr.Line, Function: fr.Function}
			if (strings.HasSuffix(fr.File, "_test.go") || spec(fr.Function)) && !framework(fr.Function, fr.File) {
				return cur, i, true
			}
			if !haveOutside && !library(fr.Function) && !framework(fr.Function, fr.File) {
				outside, outsideDepth, haveOutside = cur, i, true
			}
		}
		if !more {
			break
		}
	}
	return outside, outsideDepth, haveOutside
}

// spec reports whether fn is in pyharness's own suites (suites/internal/*, not their testdata:
// spec files that are not _test.go files, linked into one test binary).
func spec(fn string) bool {
	return strings.HasPrefix(fn, module+"/suites/") && !strings.Contains(fn, "/testdata/")
}

// library reports whether fn is a function of pyharness's own packages
// (not of its _test.go files, which User checks first).
func library(fn string) bool {
	return fn == module || strings.HasPrefix(fn, module+".") || strings.HasPrefix(fn, module+"/")
}

// goroot is where the standard library's files are.
var goroot = runtime.GOROOT() //nolint:staticcheck // the best source there is for frame paths

// framework reports whether fn (in file) belongs to the Go runtime, the
// standard library or a test framework.
func framework(fn, file string) bool {
	if goroot != "" && strings.HasPrefix(file, filepath.ToSlash(goroot)+"/") {
		return true
	}
	return strings.HasPrefix(fn, "github.com/onsi/") || strings.HasPrefix(fn, "go.uber.org/goleak")
}

// stackDepth is how many frames a Stack keeps: enough to reach the test
// through the library and a few layers of the user's code.
const stackDepth = 16

// Stack is the program counters of a stack, captured cheaply; User
// resolves them only when a failure needs the line.
type Stack struct {
	pcs [stackDepth]uintptr
	n   int
}

// Capture records the stack above its caller, skip frames up.
func Capture(skip int) *Stack {
	s := &Stack{}
	s.n = runtime.Callers(skip+2, s.pcs[:])
	return s
}

// User returns the user's frame of the captured stack, as User does for a
// live one.
func (s *Stack) User() (Frame, bool) {
	if s == nil || s.n == 0 {
		return Frame{}, false
	}
	f, _, ok := userFrame(runtime.CallersFrames(s.pcs[:s.n]))
	return f, ok
}
