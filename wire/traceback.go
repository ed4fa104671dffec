package wire

import (
	"fmt"
	"strings"
)

// workerPackage is the directory of pyharness's Python side: frames in it
// are the worker's dispatch, not the user's code.
const workerPackage = "/pyharness_worker/"

// maxErrorLines is how many traceback lines Error carries: a traceback that
// fits one screen is shown whole, a longer one by its innermost lines.
const maxErrorLines = 20

// UserTraceback returns the traceback as the user reads it: Python's
// formatted traceback without the frames of pyharness's worker (its
// dispatch around the handler, its event loop's standard-library frames
// above an async handler). A traceback made only of such frames (a built-in
// method raised) is returned whole.
func (e *PythonError) UserTraceback() string {
	return cutWorkerFrames(e.Traceback)
}

// tbFrame is one frame of a formatted traceback: its `  File "..."` line
// and the indented source and caret lines under it.
type tbFrame struct {
	lines         []string
	worker, stdlb bool
}

// cutWorkerFrames drops the worker's frames from tb: every frame in
// pyharness_worker, and in each traceback section the standard-library
// frames before the section's first frame of the user's.
func cutWorkerFrames(tb string) string {
	tb = strings.TrimRight(tb, "\n")
	if !strings.Contains(tb, workerPackage) {
		return tb
	}
	// Each item is a plain line or a frame, in order.
	type item struct {
		line    string
		frame   *tbFrame
		section int
	}
	var items []item
	var cur *tbFrame
	section := 0
	sectionHasUser := map[int]bool{}
	for _, line := range strings.Split(tb, "\n") {
		if strings.HasPrefix(line, "Traceback (most recent call last)") {
			section++
		}
		switch {
		case strings.HasPrefix(line, `  File "`):
			path := line[len(`  File "`):]
			if i := strings.Index(path, `"`); i >= 0 {
				path = path[:i]
			}
			cur = &tbFrame{lines: []string{line}, worker: strings.Contains(path, workerPackage), stdlb: stdlibPath(path)}
			items = append(items, item{frame: cur, section: section})
			if !cur.worker && !cur.stdlb {
				sectionHasUser[section] = true
			}
		case cur != nil && strings.HasPrefix(line, "    "):
			cur.lines = append(cur.lines, line)
		default:
			cur = nil
			items = append(items, item{line: line, section: section})
		}
	}
	if len(sectionHasUser) == 0 {
		return tb // nothing but the worker's frames: they are the story
	}
	var kept []string
	leading := true // before the section's first frame of the user's
	for _, it := range items {
		switch {
		case it.frame == nil:
			if strings.HasPrefix(it.line, "Traceback (most recent call last)") {
				leading = true
			}
			kept = append(kept, it.line)
		case it.frame.worker:
		case it.frame.stdlb && leading && sectionHasUser[it.section]:
		default:
			if !it.frame.stdlb {
				leading = false
			}
			kept = append(kept, it.frame.lines...)
		}
	}
	return strings.Join(kept, "\n")
}

// errorText is what Error returns: one line, then the user's traceback when
// there is one, whole if it fits maxErrorLines, else its innermost lines.
func (e *PythonError) errorText() string {
	var head string
	if e.Kind == KindException {
		head = fmt.Sprintf("python %s: %s", e.Type, e.Message)
	} else {
		head = fmt.Sprintf("python %s (%s): %s", e.Kind, e.Type, e.Message)
	}
	tb := e.UserTraceback()
	if tb == "" {
		return head
	}
	lines := strings.Split(tb, "\n")
	if len(lines) > maxErrorLines {
		tail := lines[len(lines)-(maxErrorLines-2):]
		lines = append([]string{lines[0], fmt.Sprintf("  ... %d more lines (the whole traceback is in the error's Traceback field)", len(lines)-len(tail)-1)}, tail...)
	}
	return head + "\n" + strings.Join(lines, "\n")
}

// truncated reports whether Error left lines of the user's traceback out.
func (e *PythonError) truncated() bool {
	return strings.Count(e.UserTraceback(), "\n")+1 > maxErrorLines
}

// GomegaString is how Gomega shows the error under the Error text it
// prints first (Expect(err).NotTo(HaveOccurred())): the kind and type, and
// the whole user traceback when Error had to shorten it. It needs no
// Gomega import; pyharness's test packages register a formatter that does
// the same for errors that wrap a *PythonError.
func (e *PythonError) GomegaString() string {
	s := fmt.Sprintf("<*wire.PythonError: kind %s, type %s>", e.Kind, e.Type)
	if e.truncated() {
		s += "\nthe whole traceback (pyharness_worker frames cut):\n" + e.UserTraceback()
	}
	return s
}

// stdlibPath reports whether a traceback's file is Python's own: its
// standard library (not site-packages) or a frozen module.
func stdlibPath(path string) bool {
	if strings.HasPrefix(path, "<frozen ") {
		return true
	}
	i := strings.Index(path, "/lib/python3")
	return i >= 0 && !strings.Contains(path[i:], "-packages/")
}
