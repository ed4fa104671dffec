package gotest

import (
	"testing"

	_ "github.com/pyharness/pyharness/internal/failfmt" // Gomega prints the library's errors readably
	"github.com/pyharness/pyharness/internal/mockhook"
	"github.com/pyharness/pyharness/mockpy"
)

// Mock returns a mock interpreter (mockpy.New) for a plain `go test` test:
// a forbidden unhandled call or a refused one (VerifyMethod, VerifyArgs)
// fails t, its message naming the test's line that made the call (go
// test's own file:line prefix is that line when the test calls the mock
// directly, and the line of your code that called it when your production
// code sits between: testing skips only helpers); when t ends the mock is closed, and an
// appended handler no call used fails a test that has not failed yet,
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
	t.Cleanup(func() {
		t.Helper() // reported at the line that called Mock
		defer py.Close()
		if t.Failed() {
			return // the unused handlers follow from the failure already reported
		}
		if err := py.VerifyConsumed(); err != nil {
			t.Error(err)
		}
	})
	return py
}
