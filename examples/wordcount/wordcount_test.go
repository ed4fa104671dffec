package wordcount_test

import (
	"context"
	"errors"
	"maps"
	"path/filepath"
	"testing"

	"github.com/pyharness/pyharness/gotest"
	"github.com/pyharness/pyharness/mockpy"
	"github.com/pyharness/pyharness/realpy"
	"github.com/pyharness/pyharness/wire"

	"example.com/wordcount"
)

// One warm pool for this test binary, on a pool host shared with every
// other binary of the same `go test ./...`; started by the first test that
// needs it, never when integration tests are not selected.
func TestMain(m *testing.M) {
	gotest.Main(m, gotest.WithPool(
		realpy.WithSize(2),
		realpy.WithPythonPath(pythonDir()),
		realpy.WithModules("wordcount_handlers"),
	))
}

func pythonDir() string {
	dir, err := filepath.Abs("python")
	if err != nil {
		panic(err)
	}
	return dir
}

// Unit tests: the mock, no Python.

func TestCountOnTheMock(t *testing.T) {
	t.Parallel()
	py := gotest.Mock(t)
	py.RouteToHandler("count", mockpy.RespondFunc(func(args struct{ Text string }) (map[string]int, error) {
		return map[string]int{"to": 2, "be": 2}, nil
	}))
	counts, err := wordcount.New(py).Count(context.Background(), "to be or not to be")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{"to": 2, "be": 2}; !maps.Equal(counts, want) {
		t.Errorf("counts = %v, want %v", counts, want)
	}
	if calls := py.Calls(); len(calls) != 1 || calls[0].Method != "count" {
		t.Errorf("calls = %v, want one call of count", calls)
	}
}

func TestPythonErrorsKeepTheirType(t *testing.T) {
	t.Parallel()
	py := gotest.Mock(t)
	py.RouteToHandler("top", mockpy.Raise("KeyError", "'text'"))
	_, err := wordcount.New(py).Top(context.Background(), "", 3)
	var pyErr *wire.PythonError
	if !errors.As(err, &pyErr) || pyErr.Type != "KeyError" {
		t.Fatalf("err = %v, want a Python KeyError", err)
	}
}

// Integration tests: real Python on the binary's shared pool.

func TestTopOnRealPython(t *testing.T) {
	t.Parallel()
	c := wordcount.New(gotest.Pool(t))
	top, err := c.Top(t.Context(), "the cat and the hat and the bat", 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []wordcount.Word{{Text: "the", Count: 3}, {Text: "and", Count: 2}}
	if len(top) != 2 || top[0] != want[0] || top[1] != want[1] {
		t.Errorf("top = %v, want %v", top, want)
	}
}

func TestCountOnRealPythonAgreesWithTheMock(t *testing.T) {
	t.Parallel()
	counts, err := wordcount.New(gotest.Pool(t)).Count(t.Context(), "To be, or not to be")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{"to": 2, "be": 2, "or": 1, "not": 1}; !maps.Equal(counts, want) {
		t.Errorf("counts = %v, want %v", counts, want)
	}
}

// A fresh worker of its own, checked for contamination: what the test
// leaves behind in Go or in the worker's Python fails it.
func TestFreshWorkerStaysClean(t *testing.T) {
	w := gotest.Fresh(t)
	gotest.DetectContamination(t, w)
	if _, err := wordcount.New(w).Count(t.Context(), "clean"); err != nil {
		t.Fatal(err)
	}
}

// The pool heals: a killed worker is replaced.
func TestPoolReplacesAKilledWorker(t *testing.T) {
	pool := gotest.Pool(t)
	sup := gotest.Supervise(t, pool)
	id := sup.KillWorker(pool.Workers()[0])
	if _, err := sup.WaitForRestart(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	if err := sup.BackToSize(t.Context()); err != nil {
		t.Fatal(err)
	}
}
