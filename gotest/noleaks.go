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
// before NoLeaks run after its check: call it first). What the binary's
// shared pool runs is not t's, even when t is the test that started it
// (Pool and Fresh start it on first use). A worker or pool t started and
// did not close is named (kind, worker id, pid, the line that started it)
// and killed; a call t made (on any worker, pool or mock) still in flight
// once t is done, given a second to end, is named by its method, its
// worker and the line that made it. Not with t.Parallel: the testing package refuses it, as a
// check of the whole process cannot tell another test's goroutines from
// t's.
func NoLeaks(t testing.TB, ignore ...goleak.Option) {
	t.Helper()
	forbidParallel(t, "NoLeaks")
	baseline, err := leak.Begin()
	if err != nil {
		t.Fatalf("pyharness: %v", err)
	}
	t.Cleanup(func() {
		t.Helper() // the failure reads at the test's line that called NoLeaks
		err := baseline.Check("pyharness: left by "+t.Name(), ignore...)
		r, ok := err.(*leak.Report)
		switch {
		case err == nil:
		case !ok:
			t.Errorf("pyharness: %v", err)
		default:
			if ps := r.Processes(); len(ps) > 0 {
				t.Errorf("pyharness: processes left by %s:\n\t%s", t.Name(), join(ps))
			}
			if cs := r.Calls(); len(cs) > 0 {
				t.Errorf("pyharness: calls still in flight when %s ended:\n\t%s", t.Name(), join(cs))
			}
			if gs := r.Goroutines(); len(gs) > 0 {
				t.Errorf("pyharness: goroutines left by %s:\n\t%s", t.Name(), join(gs))
			}
		}
	})
}

func join(ls []leak.Leak) string {
	names := make([]string, len(ls))
	for i, l := range ls {
		names[i] = strings.ReplaceAll(l.String(), "\n", "\n\t")
	}
	return strings.Join(names, "\n\t")
}
