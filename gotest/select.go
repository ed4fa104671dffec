package gotest

import (
	"testing"

	"github.com/pyharness/pyharness/internal/selection"
)

// Selected reports whether tests that need real Python run:
// $PYHARNESS_INTEGRATION=1.
func Selected() bool { return selection.ByEnv() }

// Integration skips t, saying how to run it, unless integration is
// selected. Pool and Fresh call it; call it yourself in a test that starts
// Python another way.
func Integration(t testing.TB) {
	t.Helper()
	if !Selected() {
		if b := current.Load(); b != nil {
			b.skipped.Add(1)
		}
		t.Skip(SkipMessage)
	}
}
