package harness

import (
	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"

	"github.com/pyharness/pyharness/internal/callsite"
	"github.com/pyharness/pyharness/internal/suitelife"

	"github.com/pyharness/pyharness/isolation/leak"
)

// endCheckKey is the suite stage of the end-of-suite leak check, shared by
// the shared pools and isolation.VerifyNoLeaks (whichever comes first adds
// it; it runs once).
const endCheckKey = "pyharness/leaks-at-end"

// registerEndCheck adds the end-of-suite check (once per suite, whoever
// asks first): a goroutine baseline on each process before any shared
// pool starts; once every pool of the process is closed, the interpreters
// it started and left running (named first, then killed, with the
// goroutines pyharness ran for them), then the goroutines started during
// the suite; and on process 1, once the pool hosts are stopped, every
// interpreter left. Failures are placed at at, the user's line: no line of
// theirs is on the stack at the end of the suite. isolation.VerifyNoLeaks
// adds the same stage, under the same key.
func registerEndCheck(at types.CodeLocation) {
	var baseline *leak.Baseline
	suitelife.Add(suitelife.Stage{Key: endCheckKey, Outer: true,
		All: func(SpecContext, []byte) {
			b, err := leak.Begin()
			if err != nil {
				Fail("pyharness: the baseline of the end-of-suite leak check: " + err.Error())
			}
			baseline = b
		},
		AfterAll: func(SpecContext) {
			if baseline != nil { // nil: the setup failed before this process's part
				failAt(at, baseline.End(suitelife.Kept()...).Check("pyharness: left running at the end of the suite"))
			}
		},
		AfterFirst: func(SpecContext) {
			failAt(at, leak.AtEnd(nil).Check("pyharness: interpreters left running at the end of the suite"))
		},
	})
}

// failAt fails the running node with err (when not nil), placed at at. The
// check itself has run (and killed what it found); only its report is
// deferred, to the end of the node.
func failAt(at types.CodeLocation, err error) {
	if err != nil {
		DeferCleanup(func() error { return err }, at)
	}
}

// userLocation is the first line outside pyharness on the stack (a spec
// file's, preferably): where a check registered at the top level of a suite
// places the failures it finds after the suite, when no line of the user's
// is on the stack.
func userLocation() types.CodeLocation {
	f, _, ok := callsite.User(1)
	if !ok {
		return types.NewCodeLocation(2)
	}
	return types.CodeLocation{FileName: f.File, LineNumber: f.Line}
}
