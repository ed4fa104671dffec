package report_test

import (
	"path/filepath"
	"testing"

	"github.com/pyharness/pyharness/gotest"
	"github.com/pyharness/pyharness/mockpy"
	"github.com/pyharness/pyharness/realpy"

	"example.com/wordcount"
	"example.com/wordcount/report"
)

// The same options as the wordcount package's: both binaries of a
// `go test ./...` fork their workers from one pool host.
func TestMain(m *testing.M) {
	dir, err := filepath.Abs(filepath.Join("..", "python"))
	if err != nil {
		panic(err)
	}
	gotest.Main(m, gotest.WithPool(
		realpy.WithSize(2),
		realpy.WithPythonPath(dir),
		realpy.WithModules("wordcount_handlers"),
	))
}

func TestSummaryOnTheMock(t *testing.T) {
	py := gotest.Mock(t)
	py.RouteToHandler("top", mockpy.Respond([]wordcount.Word{{Text: "cat", Count: 2}}))
	got, err := report.Summary(t.Context(), wordcount.New(py), map[string]string{"b": "x", "a": "y"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if want := "a: cat(2)\nb: cat(2)\n"; got != want {
		t.Errorf("summary = %q, want %q", got, want)
	}
}

func TestSummaryOnRealPython(t *testing.T) {
	t.Parallel()
	got, err := report.Summary(t.Context(), wordcount.New(gotest.Pool(t)),
		map[string]string{"hamlet": "to be or not to be", "poem": "a cat, a hat"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if want := "hamlet: be(2)\npoem: a(2)\n"; got != want {
		t.Errorf("summary = %q, want %q", got, want)
	}
}
