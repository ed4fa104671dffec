package wire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"runtime/debug"
)

// Callback is a Go function that Python handlers call by name during a call
// (pyharness_worker.bridge.call_go): args is the JSON Python passed; the
// result is encoded back; an error (or a panic) reaches Python as a
// GoError. ctx is the call's context: its deadline and cancellation apply.
type Callback func(ctx context.Context, args json.RawMessage) (any, error)

// CallbackFunc adapts a typed function: args are decoded into A.
func CallbackFunc[A, R any](fn func(ctx context.Context, args A) (R, error)) Callback {
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		var a A
		if err := Unmarshal(raw, &a); err != nil {
			return nil, fmt.Errorf("arguments: %w", err)
		}
		return fn(ctx, a)
	}
}

type callbacksKey struct{}

// WithCallbacks returns a context whose calls offer fns to their handlers,
// besides (and before) the callbacks the worker or pool was given.
func WithCallbacks(ctx context.Context, fns map[string]Callback) context.Context {
	merged := map[string]Callback{}
	for k, v := range CallbacksFrom(ctx) {
		merged[k] = v
	}
	for k, v := range fns {
		merged[k] = v
	}
	return context.WithValue(ctx, callbacksKey{}, merged)
}

// CallbacksFrom returns the callbacks WithCallbacks put in ctx.
func CallbacksFrom(ctx context.Context) map[string]Callback {
	m, _ := ctx.Value(callbacksKey{}).(map[string]Callback)
	return m
}

// Error types a $return carries, as GoError.type in Python.
const (
	GoErrorType       = "GoError"         // the function returned an error
	GoPanicType       = "GoPanic"         // the function panicked
	UnknownCallback   = "UnknownCallback" // no function of that name
	CancelledCallback = "Cancelled"       // the call was cancelled meanwhile
)

// RunCallback runs the callback name with args for a call whose context is
// ctx, looking in ctx first and then in registered, and returns the $return
// answer: never panics (a panic becomes a GoPanic error with its stack).
func RunCallback(ctx context.Context, registered map[string]Callback, frame *CallbackFrame) (ret Return) {
	ret.Seq = frame.Seq
	fn := CallbacksFrom(ctx)[frame.Name]
	if fn == nil {
		fn = registered[frame.Name]
	}
	if fn == nil {
		ret.Error = &ErrorObject{Kind: KindException, Type: UnknownCallback, Message: fmt.Sprintf("no Go function %q is registered for this call", frame.Name)}
		return ret
	}
	defer func() {
		if p := recover(); p != nil {
			ret.OK, ret.Result = false, nil
			ret.Error = &ErrorObject{Kind: KindException, Type: GoPanicType, Message: fmt.Sprintf("Go function %q panicked: %v\n%s", frame.Name, p, debug.Stack())}
		}
	}()
	result, err := fn(ctx, frame.Args)
	if err != nil {
		return Return{Seq: frame.Seq, Error: &ErrorObject{Kind: KindException, Type: GoErrorType, Message: err.Error()}}
	}
	raw, err := Marshal(result)
	if err != nil {
		return Return{Seq: frame.Seq, Error: &ErrorObject{Kind: KindException, Type: GoErrorType, Message: fmt.Sprintf("result of Go function %q: %v", frame.Name, err)}}
	}
	return Return{Seq: frame.Seq, OK: true, Result: raw}
}

// Items decodes each item of a stream into T, as Unmarshal does; an item
// that does not fit T ends the stream with its *DecodeError.
func Items[T any](seq iter.Seq2[json.RawMessage, error]) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for raw, err := range seq {
			var v T
			if err != nil {
				yield(v, err)
				return
			}
			if err := Unmarshal(raw, &v); err != nil {
				yield(v, err)
				return
			}
			if !yield(v, nil) {
				return
			}
		}
	}
}

// ErrStreamUnsupported says the peer does not stream (a worker of an older
// protocol, or a zygote's control channel).
var ErrStreamUnsupported = errors.New("the peer does not support streams")
