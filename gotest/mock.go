package gotest

import (
	"testing"

	"github.com/pyharness/pyharness/mockpy"
)

// Mock returns a mock interpreter (mockpy.New) whose forbidden unhandled
// calls fail t, closed when t ends: mockpy for a plain `go test` test.
func Mock(t testing.TB, opts ...mockpy.Option) *mockpy.Interpreter {
	t.Helper()
	fail := func(message string, _ ...int) {
		t.Helper()
		t.Error(message)
	}
	py := mockpy.New(append([]mockpy.Option{mockpy.WithFailHandler(fail)}, opts...)...)
	t.Cleanup(func() { _ = py.Close() })
	return py
}
