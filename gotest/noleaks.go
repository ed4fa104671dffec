package gotest

import (
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/pyharness/pyharness/isolation/leak"
)

// forbidParallel makes the testing package refuse t.Parallel for t (and
// fail it if it already ran in parallel): a check that compares the whole
// process before and after a test cannot tell a parallel test's goroutines,
// processes or environment from t's own.
func forbidParallel(t testing.TB, check string) {
	t.Helper()
	t.Setenv("PYHARNESS_GOTEST_CHECK", check)
}

// NoLeaks fails t when a goroutine or a Python process started during t is
// still there once t and its cleanups are done (the cleanups registered
// before NoLeaks run after its check: call it first). Not with t.Parallel:
// the testing package refuses it, as a check of the whole process cannot
// tell another test's goroutines from t's.
func NoLeaks(t testing.TB, ignore ...goleak.Option) {
	t.Helper()
	forbidParallel(t, "NoLeaks")
	baseline := goleak.IgnoreCurrent()
	before, err := leak.OwnedProcesses()
	if err != nil {
		t.Fatalf("pyharness: %v", err)
	}
	t.Cleanup(func() {
		after, err := leak.OwnedProcesses()
		if err != nil {
			t.Errorf("pyharness: %v", err)
		} else if left := leak.NewProcesses(before, after); len(left) > 0 {
			t.Errorf("pyharness: processes left by %s:\n\t%s", t.Name(), joinProcesses(left))
		}
		if err := leak.FindLeakedGoroutines(baseline, ignore...); err != nil {
			t.Errorf("pyharness: goroutines left by %s:\n%v", t.Name(), err)
		}
	})
}

func joinProcesses(ps []leak.Process) string {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.String()
	}
	return strings.Join(names, "\n\t")
}
