package mockpy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/pyharness/pyharness/internal/ownership"
	"github.com/pyharness/pyharness/wire"
)

// streamAnswer is what a streaming handler returns: a generator.
type streamAnswer struct {
	run func(ctx context.Context, yield func(item any) bool) error
}

// StreamFunc answers with a stream, as a Python generator: fn yields items
// until yield returns false (the caller left the loop: return then, as a
// generator's finally would run) or it is done; the error it returns ends
// the stream after its items (a *wire.PythonError, as Exception makes). A
// call that is not a stream gets bad_request (StreamingMethod), as from a
// real worker.
func StreamFunc(fn func(ctx context.Context, call Call, yield func(item any) bool) error) Handler {
	return func(ctx context.Context, call Call) (any, error) {
		return &streamAnswer{run: func(ctx context.Context, yield func(any) bool) error { return fn(ctx, call, yield) }}, nil
	}
}

// Stream answers with a stream of items.
func Stream(items ...any) Handler {
	return StreamError(nil, items...)
}

// StreamError answers with a stream of items that then ends with err (nil:
// cleanly), as a generator that raises after its items.
func StreamError(err error, items ...any) Handler {
	return StreamFunc(func(_ context.Context, _ Call, yield func(any) bool) error {
		for _, item := range items {
			if !yield(item) {
				return nil
			}
		}
		return err
	})
}

// StreamEvery answers with a stream of items, one every d on the mock's
// clock (WithClock: a fake clock advances it); a context that ends first
// cancels the stream, as an async generator is cancelled.
func (m *Interpreter) StreamEvery(d time.Duration, items ...any) Handler {
	return StreamFunc(func(ctx context.Context, _ Call, yield func(any) bool) error {
		for _, item := range items {
			select {
			case <-m.clock.After(d):
			case <-ctx.Done():
				return Cancelled(ctx.Err())
			}
			if !yield(item) {
				return nil
			}
		}
		return nil
	})
}

// cancelledError is a handler's clean end after its caller cancelled it: an
// async handler's CancelledError. The worker lives on.
type cancelledError struct{ err error }

func (e *cancelledError) Error() string { return "cancelled: " + e.err.Error() }
func (e *cancelledError) Unwrap() error { return e.err }

// Cancelled is what a handler returns when it observed its context's end
// and stopped, as an async handler's task is cancelled: the call returns the
// context's error and the mock lives on (a plain handler that returns the
// context's error instead is one a real worker is killed for).
func Cancelled(err error) error { return &cancelledError{err: err} }

// Cancellable makes h an async handler: returning when its context ends
// (with the context's error) is a clean cancellation, not a lost worker.
func Cancellable(h Handler) Handler {
	return func(ctx context.Context, call Call) (any, error) {
		result, err := h(ctx, call)
		if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return nil, Cancelled(err)
		}
		return result, err
	}
}

// GoError is what CallGo returns when the Go function failed, as Python's
// pyharness_worker.bridge.GoError: Type is GoError, GoPanic, GoExit,
// UnknownCallback or Cancelled; Kind is one of wire's callback kinds
// (error, panic, goexit, too_large, unencodable, unknown_callback,
// cancelled). A handler that returns it fails its call with a Python
// exception of type GoError (UnknownCallback for that kind), as an uncaught
// one would.
type GoError struct {
	Type    string
	Kind    string
	Message string
}

func (e *GoError) Error() string { return e.Type + ": " + e.Message }

// GoCall is one call a handler made into Go (CallGo), in a Call's history.
type GoCall struct {
	Name   string
	Args   json.RawMessage
	Result json.RawMessage // when it succeeded
	Err    *GoError        // when it failed
}

type callKey struct{}

// callState is what a handler's context carries: how to reach Go, and the
// call's record.
type callState struct {
	m      *Interpreter
	index  int
	seq    uint64
	callGo func(ctx context.Context, frame *wire.CallbackFrame) wire.Return
	method string
	ctx    context.Context         // the handler's: carries the state, ends when the mock dies
	kill   context.CancelCauseFunc // ends ctx
}

// CallGo calls the Go function name from a mock handler, as a Python
// handler's call_go does: with the functions given by WithCallback and
// wire.WithCallbacks on the call's context, directly, or through the
// client across the wire fake. The result is decoded into reply.
func CallGo(ctx context.Context, name string, args, reply any) error {
	st, _ := ctx.Value(callKey{}).(*callState)
	if st == nil {
		return errors.New("mockpy: CallGo outside a mock handler's context")
	}
	raw, err := wire.Marshal(args)
	if err != nil {
		return fmt.Errorf("mockpy: CallGo(%q): %w", name, err)
	}
	st.seq++
	ret := st.callGo(ctx, &wire.CallbackFrame{Seq: st.seq, Name: name, Args: raw})
	record := GoCall{Name: name, Args: raw}
	var out error
	if ret.OK {
		record.Result = ret.Result
		out = wire.Unmarshal(ret.Result, reply)
	} else {
		ge := &GoError{Type: wire.GoErrorType, Kind: wire.KindGoError, Message: "no answer"}
		if ret.Error != nil {
			ge = &GoError{Type: ret.Error.Type, Kind: ret.Error.Kind, Message: ret.Error.Message}
		}
		record.Err, out = ge, ge
		if ge.Type == wire.CancelledCallback { // Python raises Cancelled: the handler stops
			out = Cancelled(context.Canceled)
		}
	}
	st.m.mu.Lock()
	st.m.calls.update(st.index, func(c *Call) { c.Callbacks = append(c.Callbacks, record) })
	st.m.mu.Unlock()
	return out
}

// WithCallback registers fn for CallGo, as realpy.WithCallback does for a
// real worker.
func WithCallback(name string, fn wire.Callback) Option {
	return func(m *Interpreter) {
		if m.callbacks == nil {
			m.callbacks = map[string]wire.Callback{}
		}
		m.callbacks[name] = fn
	}
}

// Stream calls method as a stream, as realpy's Stream does: a streaming
// handler (Stream, StreamFunc, ...) yields its items; any other answers
// with one item. Breaking out of the loop cancels the stream (recorded in
// the call's history: Cancelled, and the Items taken).
func (m *Interpreter) Stream(ctx context.Context, method string, args any) iter.Seq2[json.RawMessage, error] {
	return func(yield func(json.RawMessage, error) bool) {
		if m.helper != nil { // see Call
			m.helper.Helper()
		}
		defer ownership.BeginCall(m.id, m.pid, method).End()
		raw, err := wire.Marshal(args)
		if err != nil {
			yield(nil, fmt.Errorf("mockpy: stream %q: %w", method, err))
			return
		}
		if err := checkText(ctx, method); err != nil {
			yield(nil, fmt.Errorf("mockpy: stream %q: %w", method, err))
			return
		}
		stopped := false
		err = m.stream(ctx, method, raw, m.localGo(), func(item json.RawMessage) bool {
			if !yield(item, nil) {
				stopped = true
			}
			return !stopped
		})
		if err != nil && !stopped {
			yield(nil, fmt.Errorf("mockpy: stream %q: %w", method, err))
		}
	}
}

// localGo runs callbacks in this process: the mock's and the context's.
func (m *Interpreter) localGo() func(ctx context.Context, frame *wire.CallbackFrame) wire.Return {
	return func(ctx context.Context, frame *wire.CallbackFrame) wire.Return {
		m.mu.Lock()
		registered, limit := m.callbacks, m.maxFrame
		m.mu.Unlock()
		ret := wire.RunCallback(ctx, registered, frame)
		if size := len(ret.Result) + 40; ret.OK && size > limit { // the $return a worker would get is over the limit
			ret = wire.TooLargeReturn(frame, size, limit)
		}
		return ret
	}
}

// stream runs a stream call, handing each encoded item to take (false:
// the consumer left).
func (m *Interpreter) stream(ctx context.Context, method string, args json.RawMessage,
	callGo func(context.Context, *wire.CallbackFrame) wire.Return, take func(json.RawMessage) bool) error {
	if m.helper != nil { // see Call
		m.helper.Helper()
	}
	answer, st, err := m.start(ctx, method, args, true, callGo)
	if st != nil {
		defer m.end(st)
	}
	if err != nil {
		return err
	}
	record := func(items int, cancelled bool) {
		m.mu.Lock()
		m.calls.update(st.index, func(c *Call) { c.Items, c.Cancelled = items, cancelled })
		m.mu.Unlock()
	}
	s, ok := answer.(*streamAnswer)
	if !ok { // a plain result, asked for as a stream: one item
		raw, err := m.encode(method, answer)
		if err != nil {
			return err
		}
		left := !take(raw)
		record(1, left)
		return nil
	}
	hctx := st.ctx
	items, left := 0, false
	var encErr error
	runErr := s.run(hctx, func(item any) bool {
		if left || encErr != nil {
			return false
		}
		raw, err := m.encode(method, item)
		if err != nil {
			encErr = err
			return false
		}
		items++
		if !take(raw) {
			left = true
		}
		return !left
	})
	record(items, left)
	if died := diedMeanwhile(hctx); died != nil { // another call, or Kill, ended the worker under it
		return died
	}
	switch {
	case left:
		return nil
	case encErr != nil:
		return encErr
	case runErr != nil:
		return m.finish(ctx, runErr)
	}
	return nil
}
