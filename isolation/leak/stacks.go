package leak

import (
	"regexp"
	"runtime"
	"strconv"
	"strings"

	"github.com/pyharness/pyharness/internal/ownership"
)

// goroutine is one goroutine of a runtime.Stack dump.
type goroutine struct {
	id      int
	state   string
	frames  []frame // innermost first
	creator frame   // the go statement that started it ("" for the main goroutine)
}

type frame struct {
	fn   string // function, without its arguments
	file string // file:line
}

// allGoroutines returns the goroutines running now, by id.
func allGoroutines() map[int]goroutine {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	gs := map[int]goroutine{}
	for _, block := range strings.Split(string(buf), "\n\n") {
		if g, ok := parseGoroutine(block); ok {
			gs[g.id] = g
		}
	}
	return gs
}

var header = regexp.MustCompile(`^goroutine (\d+) \[([^\]]*)\]:$`)

func parseGoroutine(block string) (goroutine, bool) {
	lines := strings.Split(strings.TrimSpace(block), "\n")
	if len(lines) == 0 {
		return goroutine{}, false
	}
	m := header.FindStringSubmatch(lines[0])
	if m == nil {
		return goroutine{}, false
	}
	id, _ := strconv.Atoi(m[1])
	g := goroutine{id: id, state: m[2]}
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
			g.creator = frame{fn: fn, file: file}
			continue
		}
		g.frames = append(g.frames, frame{fn: funcName(line), file: file})
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

// plumbing reports whether the goroutine runs no code of the user's: every
// frame, and the go statement that started it, are pyharness's plumbing
// for processes (realpy, wire, internal), its dependencies' or the
// standard library's (os/exec copying a spawned worker's output). ours
// says whether a frame is pyharness's.
func (g goroutine) plumbing() (all, ours bool) {
	for _, f := range append([]frame{g.creator}, g.frames...) {
		switch {
		case f.fn == "":
		case plumbingFunc(f.fn):
			ours = true
		case ownership.Stdlib(f.fn, fileOf(f.file)), strings.HasPrefix(f.fn, "golang.org/x/sys/"), strings.HasPrefix(f.fn, "github.com/cenkalti/backoff/"):
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

// shortFunc drops the module path from a function name.
func shortFunc(fn string) string {
	if i := strings.LastIndex(fn, "/"); i >= 0 {
		return fn[i+1:]
	}
	return fn
}

// stack renders the goroutine's frames, indented.
func (g goroutine) stack(indent string) string {
	var b strings.Builder
	for _, f := range g.frames {
		b.WriteString(indent + f.fn + "()\n")
		if f.file != "" {
			b.WriteString(indent + "    " + f.file + "\n")
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// hasFrame reports whether a frame's function (or the creator's) starts with prefix.
func (g goroutine) hasFrame(prefix string) bool {
	for _, f := range append([]frame{g.creator}, g.frames...) {
		if strings.HasPrefix(f.fn, prefix) {
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
