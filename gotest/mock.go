package gotest

import (
	"strings"
	"testing"

	_ "github.com/pyharness/pyharness/internal/failfmt" // Gomega prints the library's errors readably
	"github.com/pyharness/pyharness/internal/mockhook"
	"github.com/pyharness/pyharness/internal/ownership"
	"github.com/pyharness/pyharness/isolation/leak"
	"github.com/pyharness/pyharness/mockpy"
)

// Mock returns a mock interpreter (mockpy.New) for a plain `go test` test:
// a forbidden unhandled call or a refused one (VerifyMethod, VerifyArgs)
// fails t, its message naming the test's line that made the call (go
// test's own file:line prefix is that line when the test calls the mock
// directly, and the line of your code that called it when your production
// code sits between: testing skips only helpers); when t ends the mock is
// closed, a call still in flight on it (given a second to end) fails t,
// naming its method and the line that made it, and an appended handler no call used fails a test that has not failed yet,
// naming how many were appended and used and the calls that came
// (mockpy.WithUnusedHandlersAllowed turns that off).
func Mock(t testing.TB, opts ...mockpy.Option) *mockpy.Interpreter {
	t.Helper()
	fail := func(message string, _ ...int) {
		t.Helper()
		t.Error(message)
	}
	base := []mockpy.Option{mockpy.WithFailHandler(fail), mockhook.WithHelper(t).(mockpy.Option)}
	py := mockpy.New(append(base, opts...)...)
	calls := ownership.CallSeq()
	t.Cleanup(func() {
		t.Helper() // reported at the line that called Mock
		defer py.Close()
		if t.Failed() {
			return // the unused handlers and calls left follow from the failure already reported
		}
		if left := ownership.WaitCallsOn(calls, ownership.CallGrace, "", py.Pid()); len(left) > 0 {
			lines := make([]string, len(left))
			for i, c := range left {
				lines[i] = leak.Leak{Kind: leak.KindCall, ID: c.Worker, Pid: c.Pid, Method: c.Method, Site: c.Site, Func: c.Func}.String()
			}
			t.Errorf("pyharness: %s ended with %d call(s) still in flight on its mock:\n\t%s", t.Name(), len(left), strings.Join(lines, "\n\t"))
			return
		}
		if err := py.VerifyConsumed(); err != nil {
			t.Error(err)
		}
	})
	return py
}
