// Package contract holds the behaviours every interpreter must share: the
// mock, the wire-level fake, a real worker, a real pool and the container
// backend all run the same specs, so the mock cannot drift from Python.
//
//	var _ = Describe("mock", func() {
//		contract.Register(func(ctx context.Context) pyharness.Interpreter {
//			py := mockpy.New()
//			contract.InstallMock(py)
//			return py
//		})
//	})
//
// Real targets serve the module contract.ModuleName, written by WriteModule.
package contract

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness"
	"github.com/pyharness/pyharness/mockpy"
	"github.com/pyharness/pyharness/wire"
)

// ModuleName is the Python module of the contract's own handlers.
const ModuleName = "pyharness_contract"

//go:embed handlers.py
var handlersPy []byte

// WriteModule writes the contract's handler module into dir; serve it with
// realpy.WithPythonPath(dir), realpy.WithModules(contract.ModuleName).
func WriteModule(dir string) error {
	return os.WriteFile(filepath.Join(dir, ModuleName+".py"), handlersPy, 0o644)
}

// InstallMock routes the contract's handlers on a mock, written as the
// Python ones are.
func InstallMock(py *mockpy.Interpreter) {
	py.RouteToHandler("remember", func(ctx context.Context, call mockpy.Call) (any, error) {
		state := py.State(call.Session)
		items, _ := state["items"].([]any)
		items = append(items, call.Value())
		state["items"] = items
		return len(items), nil
	})
	py.RouteToHandler("unserializable", mockpy.Respond(map[string]any{"model": func() {}}))
	py.RouteToHandler("not_a_number", mockpy.Respond(nan()))
	py.RouteToHandler("broken_str", mockpy.Raise("BrokenStr", "<BrokenStr object: str() raised RuntimeError>"))
	py.RouteToHandler("length", mockpy.RespondFunc(func(args string) (int, error) { return len([]rune(args)), nil }))
	py.RouteToHandler("large_surrogate", mockpy.RespondFunc(func(n int) (any, error) {
		// Go has no lone surrogate: a large value JSON cannot carry stands in
		return []any{strings.Repeat("x", n), func() {}}, nil
	}))
	py.RouteToHandler("add", mockpy.RespondFunc(func(args struct{ A, B int }) (int, error) { return args.A + args.B, nil }))

	var mu sync.Mutex
	var closed []string
	record := func(name string) {
		mu.Lock()
		closed = append(closed, name)
		mu.Unlock()
	}
	py.RouteToHandler("count", mockpy.StreamFunc(func(_ context.Context, call mockpy.Call, yield func(any) bool) error {
		defer record("count")
		var args struct{ N int }
		_ = call.Decode(&args)
		for i := range args.N {
			if !yield(i) {
				return nil
			}
		}
		return nil
	}))
	py.RouteToHandler("fail_after", mockpy.StreamFunc(func(_ context.Context, call mockpy.Call, yield func(any) bool) error {
		var args struct{ N int }
		_ = call.Decode(&args)
		for i := range args.N {
			if !yield(i) {
				return nil
			}
		}
		return mockpy.Exception("ValueError", fmt.Sprintf("failed after %d items", args.N))
	}))
	installConcurrency(py, record)
	py.RouteToHandler("were_closed", func(context.Context, mockpy.Call) (any, error) {
		mu.Lock()
		defer mu.Unlock()
		return append([]string{}, closed...), nil
	})
	py.RouteToHandler("nap", mockpy.Cancellable(func(ctx context.Context, _ mockpy.Call) (any, error) {
		if err := mockpy.CallGo(ctx, "started", nil, nil); err != nil {
			if errors.Is(err, context.Canceled) { // cancelled while Go answered: CancelledError in Python
				record("nap")
			}
			return nil, err
		}
		<-ctx.Done()
		record("nap")
		return nil, ctx.Err()
	}))
	py.RouteToHandler("ask", func(ctx context.Context, call mockpy.Call) (any, error) {
		var args struct {
			Name string
			Args json.RawMessage
		}
		_ = call.Decode(&args)
		var answer any
		err := mockpy.CallGo(ctx, args.Name, args.Args, &answer)
		var goErr *mockpy.GoError
		if errors.As(err, &goErr) {
			class := "GoError"
			if goErr.Kind == wire.KindUnknownCallback {
				class = wire.UnknownCallback // bridge.UnknownCallback, a GoError
			}
			return map[string]any{"error": goErr.Type, "kind": goErr.Kind, "class": class, "message": goErr.Message}, nil
		}
		if err != nil {
			return nil, err
		}
		return map[string]any{"answer": answer}, nil
	})
}

// Factory returns a fresh interpreter for one spec.
type Factory func(ctx context.Context) pyharness.Interpreter

// Behaviour is one thing every interpreter must do alike. Check fails
// through Gomega's global fail handler.
type Behaviour struct {
	Name  string
	Check func(ctx context.Context, py pyharness.Interpreter)
}

// Register registers one It per behaviour in the current container; each
// spec gets a fresh interpreter from factory, closed when it ends.
func Register(factory Factory, decorators ...any) { register(Behaviours, factory, decorators) }

// register registers one It per behaviour of bs, each with a fresh
// interpreter from factory, closed when it ends.
func register(bs []Behaviour, factory Factory, decorators []any) {
	for _, b := range bs {
		args := append([]any{func(ctx SpecContext) {
			py := factory(ctx)
			DeferCleanup(py.Close)
			b.Check(ctx, py)
		}}, decorators...)
		args = append(args, SpecTimeout(specTimeout))
		It(b.Name, args...)
	}
}

// Failure runs one behaviour against py and returns its first failure, or
// nil: how a spec proves that a drifted interpreter breaks the contract.
func Failure(ctx context.Context, b Behaviour, py pyharness.Interpreter) error {
	return InterceptGomegaFailure(func() { b.Check(ctx, py) })
}

// Find returns the behaviour named name.
func Find(name string) Behaviour {
	for _, b := range Behaviours {
		if b.Name == name {
			return b
		}
	}
	Fail("no contract behaviour named " + name)
	return Behaviour{}
}
