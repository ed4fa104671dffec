package gotest

import (
	"testing"

	"github.com/pyharness/pyharness/internal/selection"
)

// Selected reports whether tests that need real Python run. They are
// labelled integration, and the rule is the Ginkgo harness's: when the
// Ginkgo CLI runs the binary (`ginkgo -r` runs plain go test packages too)
// with a --label-filter, the filter decides, evaluated against the label
// integration ("integration", "integration && !slow" select them;
// "!integration" does not); without a filter, and under plain `go test`,
// $PYHARNESS_INTEGRATION=1 does.
func Selected() bool { return selection.ForGoTest().Selected }

// Integration skips t, saying why and how to run it, unless integration is
// selected. Pool and Fresh call it; call it yourself in a test that starts
// Python another way.
func Integration(t testing.TB) {
	t.Helper()
	if v := selection.ForGoTest(); !v.Selected {
		if b := current.Load(); b != nil {
			b.skipped.Add(1)
		}
		t.Skip(v.Why())
	}
}
