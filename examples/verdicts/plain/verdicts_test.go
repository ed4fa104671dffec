// The plain go test half of the verdicts example. Without the build tag
// `verdicts` it holds one passing test; with it, failing_test.go adds one
// failing test per failure kind:
//
//	PYHARNESS_INTEGRATION=1 go test -tags verdicts ./plain   # fails, on purpose
package plain_test

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/pyharness/pyharness/gotest"
	"github.com/pyharness/pyharness/mockpy"
	"github.com/pyharness/pyharness/realpy"

	"example.com/verdicts"
)

func TestMain(m *testing.M) {
	gotest.Main(m, gotest.WithPool(realpy.WithSize(1), realpy.WithPythonPath(pythonDir()), realpy.WithModules("verdicts_handlers")))
}

func pythonDir() string {
	dir, err := filepath.Abs(filepath.Join("..", "python"))
	if err != nil {
		panic(err)
	}
	return dir
}

func TestKeywordsOnTheMock(t *testing.T) {
	py := gotest.Mock(t)
	py.RouteToHandler("keywords", mockpy.Respond([]string{"phone"}))
	words, err := verdicts.NewTagger(py).Keywords(t.Context(), "great phone")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(words, []string{"phone"}) {
		t.Fatalf("keywords: got %q, want [phone]", words)
	}
}

func TestKeywordsOnRealPython(t *testing.T) {
	words, err := verdicts.NewTagger(gotest.Pool(t)).Keywords(t.Context(), "great phone")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(words, []string{"great", "phone"}) {
		t.Fatalf("keywords: got %q, want [great phone]", words)
	}
}
