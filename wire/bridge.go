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
	GoErrorType       = "GoError"         // the function returned an error, or an answer that cannot cross
	GoPanicType       = "GoPanic"         // the function panicked
	GoExitType        = "GoExit"          // the function called runtime.Goexit (t.FailNow, t.Fatal, t.SkipNow)
	UnknownCallback   = "UnknownCallback" // no function of that name, or a malformed name
	CancelledCallback = "Cancelled"       // the call was cancelled meanwhile
)

// Kinds of a callback's failure, as a $return's error.kind (GoError.kind in
// Python); KindTooLarge and KindCancelled are the calls' own.
const (
	KindGoError         = "error"            // the function returned an error
	KindPanic           = "panic"            // the function panicked
	KindGoexit          = "goexit"           // the function called runtime.Goexit
	KindUnencodable     = "unencodable"      // its result cannot be encoded as JSON
	KindUnknownCallback = "unknown_callback" // no function of that name, or a malformed name
)

// RunCallback runs the callback frame names with its args for a call whose
// context is ctx, looking in ctx first and then in registered, and returns
// the $return answer; it waits for the function or for ctx to end (then it
// answers Cancelled and leaves the function running). It never panics and
// never ends its goroutine: see StartCallback.
func RunCallback(ctx context.Context, registered map[string]Callback, frame *CallbackFrame) Return {
	answer := StartCallback(ctx, registered, frame)
	select {
	case ret := <-answer:
		return ret
	case <-ctx.Done():
		return Return{Seq: frame.Seq, Error: &ErrorObject{Kind: KindCancelled, Type: CancelledCallback,
			Message: fmt.Sprintf("the call was cancelled by its Go caller (%v) while Go function %q ran", ctx.Err(), frame.Name)}}
	}
}

// StartCallback runs the callback frame names on a goroutine of its own and
// returns where its $return answer arrives (buffered: it need not be
// taken). A function that panics is answered GoPanic (with its stack), one
// that calls runtime.Goexit GoExit, a result JSON cannot carry
// unencodable; an empty name, or one nobody registered, UnknownCallback.
func StartCallback(ctx context.Context, registered map[string]Callback, frame *CallbackFrame) <-chan Return {
	answer := make(chan Return, 1)
	fn := CallbacksFrom(ctx)[frame.Name]
	if fn == nil {
		fn = registered[frame.Name]
	}
	switch {
	case frame.Name == "":
		answer <- callbackFailure(frame.Seq, KindUnknownCallback, UnknownCallback, `callback name "" is not a valid name: it must be a non-empty string`)
		return answer
	case fn == nil:
		answer <- callbackFailure(frame.Seq, KindUnknownCallback, UnknownCallback, fmt.Sprintf("no Go function %q is registered for this call", frame.Name))
		return answer
	}
	go func() {
		var ret Return
		returned := false
		defer func() {
			if p := recover(); p != nil {
				ret = callbackFailure(frame.Seq, KindPanic, GoPanicType, fmt.Sprintf("Go function %q panicked: %v\n%s", frame.Name, p, debug.Stack()))
			} else if !returned {
				ret = callbackFailure(frame.Seq, KindGoexit, GoExitType,
					fmt.Sprintf("Go function %q called runtime.Goexit (t.FailNow, t.Fatal or t.SkipNow inside a callback?) and returned no answer", frame.Name))
			}
			answer <- ret
		}()
		ret = runCallback(ctx, fn, frame)
		returned = true
	}()
	return answer
}

func runCallback(ctx context.Context, fn Callback, frame *CallbackFrame) Return {
	result, err := fn(ctx, frame.Args)
	if err != nil {
		return callbackFailure(frame.Seq, KindGoError, GoErrorType, err.Error())
	}
	raw, err := Marshal(result)
	if err != nil {
		return callbackFailure(frame.Seq, KindUnencodable, GoErrorType, fmt.Sprintf("the result of Go function %q cannot cross to Python: %v", frame.Name, err))
	}
	return Return{Seq: frame.Seq, OK: true, Result: raw}
}

// TooLargeReturn is the answer that replaces a callback's result over the
// frame limit max: size is the result's (or its $return frame's) size.
func TooLargeReturn(frame *CallbackFrame, size, max int) Return {
	return callbackFailure(frame.Seq, KindTooLarge, GoErrorType,
		fmt.Sprintf("the result of Go function %q is %d bytes, over the frame limit of %d", frame.Name, size, max))
}

func callbackFailure(seq uint64, kind, typ, message string) Return {
	return Return{Seq: seq, Error: &ErrorObject{Kind: kind, Type: typ, Message: message}}
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
