package leak

import (
	"bytes"
	"runtime"
	"strconv"

	"github.com/pyharness/pyharness/internal/stacks"
)

// goroutineIDs returns the ids of the goroutines running now. A baseline
// takes them just before goleak.IgnoreCurrent, so every one still running
// later is one goleak ignores too (a goroutine's id is never reused).
func goroutineIDs() map[int]bool {
	ids := map[int]bool{}
	for id := range stacks.All() {
		ids[id] = true
	}
	return ids
}

// currentGoroutine is the id of the calling goroutine.
func currentGoroutine() int {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		id, _ := strconv.Atoi(string(b[:i]))
		return id
	}
	return 0
}

// quiet reports, from one look at the goroutines running now, that a
// goroutine check could keep none: every goroutine is the caller, one of
// base (running when the baseline was taken), Ginkgo's own, or one that
// kept returns false for (pyharness's plumbing excused now, a goroutine
// reported before). What goleak.Find could report is among the others, so
// a check that is quiet skips Find: Find retries for about 0.4 s before it
// reports anything, also goroutines the check then leaves out. A check
// that is not quiet runs Find as before, so a goroutine that is ending now
// is given goleak's time to end. A nil base knows nothing: never quiet.
func quiet(base map[int]bool, kept func(stacks.Goroutine) bool) bool {
	if base == nil {
		return false
	}
	self := currentGoroutine()
	for id, g := range stacks.All() {
		if id == self || base[id] || ginkgos(g) {
			continue
		}
		if kept(g) {
			return false
		}
	}
	return true
}

// ginkgos reports whether g is one of Ginkgo's own (IgnoreGinkgo).
func ginkgos(g stacks.Goroutine) bool {
	for _, f := range g.Frames {
		for _, fn := range ginkgoFunctions {
			if f.Func == fn {
				return true
			}
		}
	}
	return false
}
