package gotest

import (
	"testing"

	"github.com/pyharness/pyharness/internal/selection"
	"github.com/pyharness/pyharness/realpy"
)

// Integration skips exactly when the selection rule says so, and the
// binary's summary counts the skip and says how to run it.
func TestIntegrationFollowsTheSelectionRule(t *testing.T) {
	b := &binary{}
	if !current.CompareAndSwap(nil, b) {
		t.Fatal("a binary is already current")
	}
	defer current.Store(nil)
	skipped := false
	t.Run("needs Python", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		Integration(t)
	})
	v := selection.ForGoTest()
	if skipped == v.Selected {
		t.Fatalf("skipped %v, but the verdict is %+v", skipped, v)
	}
	if !skipped {
		return
	}
	want := "pyharness: no Python started; 1 integration test(s) skipped (" + v.HowToRun() + ")"
	if got := b.summary(realpy.PoolStats{}); got != want {
		t.Errorf("summary:\n got %s\nwant %s", got, want)
	}
}
