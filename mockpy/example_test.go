package mockpy_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/pyharness/pyharness/mockpy"
	"github.com/pyharness/pyharness/wire"
)

// Route a method, queue answers, inject a fault, read the history.
func Example() {
	ctx := context.Background()
	py := mockpy.New()
	py.RouteToHandler("classify", mockpy.Respond(map[string]any{"label": "positive"}))
	py.AppendHandlers(mockpy.Raise("KeyError", "'model'"), mockpy.Crash(137))

	var verdict struct{ Label string }
	_ = py.Call(ctx, "classify", map[string]string{"text": "great"}, &verdict)
	fmt.Println(verdict.Label)

	err := py.Call(ctx, "load", nil, nil)
	var pyErr *wire.PythonError
	fmt.Println(errors.As(err, &pyErr), pyErr.Type)

	err = py.Call(ctx, "load", nil, nil)
	fmt.Println(errors.Is(err, wire.ErrWorkerExited))
	fmt.Println(len(py.Calls()), py.Unconsumed())
	// Output:
	// positive
	// true KeyError
	// true
	// 3 0
}

// The wire-level fake: realpy's client code against the mock, no Python.
func ExampleInterpreter_Pipe() {
	py := mockpy.New()
	conn := py.Pipe()
	defer conn.Close()
	fmt.Println(conn.RemoteAddr().Network())
	// Output: pipe
}
