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
// dispatch around the handler). A traceback made only of worker frames (a
// built-in method raised) is returned whole; so is one with no frames.
func (e *PythonError) UserTraceback() string {
	return cutWorkerFrames(e.Traceback)
}

// cutWorkerFrames drops each `  File ".../pyharness_worker/..."` line of tb
// and the indented source lines under it.
func cutWorkerFrames(tb string) string {
	tb = strings.TrimRight(tb, "\n")
	if !strings.Contains(tb, workerPackage) {
		return tb
	}
	lines := strings.Split(tb, "\n")
	kept := make([]string, 0, len(lines))
	frames, user := 0, 0
	inWorker := false
	for _, line := range lines {
		switch {
		case strings.HasPrefix(line, `  File "`):
			frames++
			inWorker = strings.Contains(line, workerPackage)
			if !inWorker {
				user++
			}
		case strings.HasPrefix(line, "    "):
			// a frame's source line or caret line: belongs to the frame above
		default:
			inWorker = false
		}
		if !inWorker {
			kept = append(kept, line)
		}
	}
	if user == 0 {
		return tb // nothing but the worker's frames: they are the story
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
