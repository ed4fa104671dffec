package fixture

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/pyharness/pyharness/gotest"
	"github.com/pyharness/pyharness/mockpy"
	"github.com/pyharness/pyharness/realpy"
)

// The suite finds the lines marked "// line: NAME" in this file and checks
// that the failures name them.

func TestMockUnusedHandler(t *testing.T) {
	py := gotest.Mock(t)                                             // line: mock-unused
	py.AppendHandlers(mockpy.Respond("ok"), mockpy.Respond("again")) // line: append
	if err := tag(t.Context(), py, "x"); err != nil {                // line: used-call
		t.Fatal(err)
	}
}

func TestMockUnusedHandlerAllowed(t *testing.T) {
	py := gotest.Mock(t, mockpy.WithUnusedHandlersAllowed())
	py.AppendHandlers(mockpy.Respond("ok"), mockpy.Respond("again"))
	if err := tag(t.Context(), py, "x"); err != nil {
		t.Fatal(err)
	}
}

func TestMockUnhandledCall(t *testing.T) {
	py := gotest.Mock(t, mockpy.WithoutBuiltins())
	_ = tag(t.Context(), py, "x") // line: unhandled-call
}

func TestMockUnhandledCallDirect(t *testing.T) {
	py := gotest.Mock(t, mockpy.WithoutBuiltins())
	_ = py.Call(t.Context(), "tag", map[string]any{"text": "x"}, nil) // line: unhandled-direct
}

func TestMockPythonError(t *testing.T) {
	py := gotest.Mock(t)
	py.RouteToHandler("tag", mockpy.Raise("ValueError", "cannot tag 'x'"))
	err := tag(t.Context(), py, "x")
	if err != nil {
		t.Fatal(fmt.Errorf("tagging: %w", err))
	}
}

func TestRealPythonError(t *testing.T) {
	gotest.Integration(t)
	dir, err := filepath.Abs("python")
	if err != nil {
		t.Fatal(err)
	}
	w, err := realpy.Start(t.Context(), realpy.WithPythonPath(dir), realpy.WithModules("failure_handlers"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	err = tag(t.Context(), w, "x")
	if err != nil {
		t.Fatal(errors.Join(fmt.Errorf("tagging: %w", err), errors.New("and something else")))
	}
}

func TestMockUnusedHandlerAfterAFailure(t *testing.T) {
	py := gotest.Mock(t)
	py.AppendHandlers(mockpy.Respond("never"))
	t.Error("the test's own failure")
}
