package gotest_test

import (
	"testing"

	"github.com/pyharness/pyharness/gotest"
	"github.com/pyharness/pyharness/mockpy"
	"github.com/pyharness/pyharness/realpy"
)

// TestMain gives the package's tests one warm pool, shared with the other
// test binaries of the same `go test ./...`, and checks for leaks at the end.
func ExampleMain() {
	// In a _test.go file of the package under test:
	//
	//	func TestMain(m *testing.M) {
	//		gotest.Main(m, gotest.WithPool(
	//			realpy.WithSize(2),
	//			realpy.WithPythonPath("python"),
	//			realpy.WithModules("wordcount_handlers"),
	//		))
	//	}
	var _ = func(m *testing.M) {
		gotest.Main(m, gotest.WithPool(realpy.WithSize(2), realpy.WithPythonPath("python"), realpy.WithModules("wordcount_handlers")))
	}
}

// An integration test: skipped, saying how to run it, unless
// PYHARNESS_INTEGRATION=1; then a call on the binary's shared pool.
func ExamplePool() {
	var _ = func(t *testing.T) {
		t.Parallel()
		var counts map[string]int
		if err := gotest.Pool(t).Call(t.Context(), "count", map[string]string{"text": "to be"}, &counts); err != nil {
			t.Fatal(err)
		}
	}
}

// A unit test on the mock: an unexpected call fails the test.
func ExampleMock() {
	var _ = func(t *testing.T) {
		py := gotest.Mock(t)
		py.RouteToHandler("count", mockpy.Respond(map[string]int{"to": 1, "be": 1}))
		var counts map[string]int
		if err := py.Call(t.Context(), "count", map[string]string{"text": "to be"}, &counts); err != nil {
			t.Fatal(err)
		}
	}
}
