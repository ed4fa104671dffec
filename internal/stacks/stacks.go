// Package stacks parses the goroutines of a runtime.Stack dump and tells
// pyharness's plumbing (the goroutines it runs for processes) from a
// user's goroutines: isolation/leak's reports name leaked goroutines with
// it. Its specs are in the suites binary (suites/internal/unit).
package stacks

import (
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/pyharness/pyharness/internal/ownership"
)

// Goroutine is one goroutine of a runtime.Stack dump.
type Goroutine struct {
	ID      int
	State   string
	Frames  []Frame // innermost first
	Creator Frame   // the go statement that started it ("" for the main goroutine)
}

// Frame is one frame of a goroutine's stack.
type Frame struct {
	Func string // function, without its arguments
	File string // file:line
}

// dumps holds the buffers of All's dumps: a leak check takes one on each
// spec's start and check, and a new megabyte each time is garbage to
// clear and collect.
var dumps = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// dump is runtime.Stack of every goroutine.
func dump() string {
	bp := dumps.Get().(*[]byte)
	defer dumps.Put(bp)
	for {
		n := runtime.Stack(*bp, true)
		if n < len(*bp) {
			return string((*bp)[:n])
		}
		*bp = make([]byte, 2*len(*bp))
	}
}

// All returns the goroutines running now, by id.
func All() map[int]Goroutine {
	gs := map[int]Goroutine{}
	for _, block := range strings.Split(dump(), "\n\n") {
		if g, ok := Parse(block); ok {
			gs[g.ID] = g
		}
	}
	return gs
}

var header = regexp.MustCompile(`^goroutine (\d+) \[([^\]]*)\]:$`)

// Parse parses one goroutine's block of a runtime.Stack dump (its
// header line, then its frames); false if block is none.
func Parse(block string) (Goroutine, bool) {
	lines := strings.Split(strings.TrimSpace(block), "\n")
	if len(lines) == 0 {
		return Goroutine{}, false
	}
	m := header.FindStringSubmatch(lines[0])
	if m == nil {
		return Goroutine{}, false
	}
	id, _ := strconv.Atoi(m[1])
	g := Goroutine{ID: id, State: m[2]}
	for i := 1; i < len(lines); i++ {
		line := lines[i]
		if strings.HasPrefix(line, "\t") || strings.HasPrefix(line, "...") {
			continue
		}
		file := ""
		if i+1 < len(lines) && strings.HasPrefix(lines[i+1], "\t") {
			file = strings.TrimSpace(lines[i+1])
			if j := strings.LastIndex(file, " +0x"); j >= 0 {
				file = file[:j]
			}
		}
		if fn, ok := strings.CutPrefix(line, "created by "); ok {
			if j := strings.Index(fn, " in goroutine "); j >= 0 {
				fn = fn[:j]
			}
			g.Creator = Frame{Func: fn, File: file}
			continue
		}
		g.Frames = append(g.Frames, Frame{Func: funcName(line), File: file})
	}
	return g, true
}

// funcName strips the arguments from a frame's function line.
func funcName(line string) string {
	if i := strings.LastIndex(line, "("); i > 0 {
		return line[:i]
	}
	return line
}

// Plumbing reports whether the goroutine runs no code of the user's: every
// frame, and the go statement that started it, are pyharness's plumbing
// for processes (realpy, wire, internal), its dependencies' or the
// standard library's (os/exec copying a spawned worker's output). ours
// says whether a frame is pyharness's.
func (g Goroutine) Plumbing() (all, ours bool) {
	for _, f := range append([]Frame{g.Creator}, g.Frames...) {
		switch {
		case f.Func == "":
		case plumbingFunc(f.Func):
			ours = true
		case ownership.Stdlib(f.Func, fileOf(f.File)), strings.HasPrefix(f.Func, "golang.org/x/sys/"), strings.HasPrefix(f.Func, "github.com/cenkalti/backoff/"):
		default:
			return false, false
		}
	}
	return true, ours
}

// plumbingFunc reports whether fn runs processes: realpy, wire, internal, the root package.
func plumbingFunc(fn string) bool {
	const module = "github.com/pyharness/pyharness"
	rest, ok := strings.CutPrefix(fn, module)
	if !ok {
		return false
	}
	for _, p := range []string{".", "/realpy.", "/realpy/", "/wire.", "/internal/"} {
		if strings.HasPrefix(rest, p) {
			return true
		}
	}
	return false
}

// ShortFunc drops the module path from a function name.
func ShortFunc(fn string) string {
	if i := strings.LastIndex(fn, "/"); i >= 0 {
		return fn[i+1:]
	}
	return fn
}

// Stack renders the goroutine's frames, indented.
func (g Goroutine) Stack(indent string) string {
	var b strings.Builder
	for _, f := range g.Frames {
		b.WriteString(indent + f.Func + "()\n")
		if f.File != "" {
			b.WriteString(indent + "    " + f.File + "\n")
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// HasFrame reports whether a frame's function (or the creator's) starts with prefix.
func (g Goroutine) HasFrame(prefix string) bool {
	for _, f := range append([]Frame{g.Creator}, g.Frames...) {
		if strings.HasPrefix(f.Func, prefix) {
			return true
		}
	}
	return false
}

// fileOf drops the line from "file:line".
func fileOf(fileLine string) string {
	if i := strings.LastIndex(fileLine, ":"); i > 0 {
		return fileLine[:i]
	}
	return fileLine
}
