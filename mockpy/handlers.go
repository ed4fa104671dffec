package mockpy

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/pyharness/pyharness/internal/callsite"
	"github.com/pyharness/pyharness/wire"
)

// Respond answers with value (encoded as JSON, as Python's result would be).
func Respond(value any) Handler {
	return func(context.Context, Call) (any, error) { return value, nil }
}

// RespondJSON answers with raw JSON, exactly as given.
func RespondJSON(raw string) Handler {
	return func(context.Context, Call) (any, error) { return json.RawMessage(raw), nil }
}

// RespondFunc answers with fn's result, computed from the decoded args: a
// handler written like the Python one it stands in for.
func RespondFunc[A, R any](fn func(args A) (R, error)) Handler {
	return func(_ context.Context, call Call) (any, error) {
		var args A
		if err := call.Decode(&args); err != nil {
			return nil, Exception("TypeError", fmt.Sprintf("bad arguments for %s: %v", call.Method, err))
		}
		return fn(args)
	}
}

// Raise answers with a Python exception of type pyType, as a handler raising
// it would, traceback included: its one frame is the line of the test that
// called Raise, standing for the Python handler's.
func Raise(pyType, message string) Handler {
	site := userSite()
	return func(_ context.Context, call Call) (any, error) {
		return nil, exceptionAt(call.Method, pyType, message, site)
	}
}

// Exception returns the error a real worker reports for a raised exception;
// handlers written with RespondFunc return it. Its traceback's frame is the
// line that called Exception.
func Exception(pyType, message string) *wire.PythonError {
	return exceptionAt("handler", pyType, message, userSite())
}

// userSite is the user's line above the caller of userSite, as a
// traceback's frame: `File "<mockpy>", line 1` when there is none.
func userSite() callsite.Frame {
	if f, _, ok := callsite.User(2); ok {
		return f
	}
	return callsite.Frame{File: "<mockpy>", Line: 1}
}

// exceptionIn is an exception raised by no line of the user's (a built-in).
func exceptionIn(method, pyType, message string) *wire.PythonError {
	return exceptionAt(method, pyType, message, callsite.Frame{File: "<mockpy>", Line: 1})
}

func exceptionAt(method, pyType, message string, site callsite.Frame) *wire.PythonError {
	return &wire.PythonError{
		Kind:    wire.KindException,
		Type:    pyType,
		Message: message,
		Traceback: fmt.Sprintf("Traceback (most recent call last):\n  File \"%s\", line %d, in %s\n%s: %s\n",
			site.File, site.Line, method, pyType, message),
	}
}

// Crash makes the worker exit with code without answering: this call and
// every later one fail with a *wire.WorkerExitedError.
func Crash(code int) Handler {
	return func(context.Context, Call) (any, error) {
		return nil, &wire.WorkerExitedError{Code: code}
	}
}

// Hang never answers: the call returns its context's error when the context
// ends, and the worker is gone afterwards, as a real one is killed.
func Hang() Handler {
	return func(ctx context.Context, call Call) (any, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
}

// Garbage answers with a malformed frame: a *wire.ProtocolError, and the
// worker is gone afterwards, as a real one is killed.
func Garbage() Handler {
	return func(context.Context, Call) (any, error) {
		return nil, &wire.ProtocolError{Reason: "response is not a valid JSON envelope", Frame: []byte("{this is not json")}
	}
}

// Delay runs h after d on the mock's clock (WithClock); the call returns the
// context's error if it ends first, and the worker is then gone.
func (m *Interpreter) Delay(d time.Duration, h Handler) Handler {
	return func(ctx context.Context, call Call) (any, error) {
		select {
		case <-m.clock.After(d):
			return h(ctx, call)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// CombineHandlers runs handlers in order; the first error or the last
// result answers. Pair with VerifyMethod and VerifyArgs, as in ghttp.
func CombineHandlers(handlers ...Handler) Handler {
	return func(ctx context.Context, call Call) (any, error) {
		var result any
		for _, h := range handlers {
			r, err := h(ctx, call)
			if err != nil {
				return nil, err
			}
			result = r
		}
		return result, nil
	}
}

// MismatchError is returned by VerifyMethod and VerifyArgs when a call is not
// the one expected. The mock also records it (Mismatches, HaveNoMismatches)
// and reports it to the fail handler (WithFailHandler), so a mismatch fails
// the spec even when the code under test swallows the call's error.
type MismatchError struct {
	Call     Call
	Expected string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("mockpy: call %s: expected %s", e.Call, e.Expected)
}

// VerifyMethod checks that the call is of method.
func VerifyMethod(method string) Handler {
	return func(_ context.Context, call Call) (any, error) {
		if call.Method != method {
			return nil, &MismatchError{Call: call, Expected: fmt.Sprintf("a call of %q", method)}
		}
		return nil, nil
	}
}

// VerifyArgs checks that the call's args are JSON-equal to want.
func VerifyArgs(want any) Handler {
	return func(_ context.Context, call Call) (any, error) {
		raw, err := wire.Marshal(want)
		if err != nil {
			return nil, err
		}
		if !jsonEqual(raw, call.Args) {
			return nil, &MismatchError{Call: call, Expected: "args " + strings.TrimSpace(string(raw))}
		}
		return nil, nil
	}
}

func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	if wire.Unmarshal(a, &x) != nil || wire.Unmarshal(b, &y) != nil {
		return false
	}
	xs, _ := json.Marshal(x)
	ys, _ := json.Marshal(y)
	return string(xs) == string(ys)
}

func jsonMarshal(v any) (json.RawMessage, error) { return wire.Marshal(v) }
