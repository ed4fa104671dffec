package mockpy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/pyharness/pyharness/internal/callsite"
	"github.com/pyharness/pyharness/wire"
)

// One call, from its start to its end: refusals, the turn, the record, the
// handler, and the errors a real worker would give.

// start checks a call, records it and runs its handler, returning the
// handler's answer (a result, or a stream to run) and the call's state.
func (m *Interpreter) start(ctx context.Context, method string, args json.RawMessage, stream bool,
	callGo func(context.Context, *wire.CallbackFrame) wire.Return) (any, *callState, error) {
	if m.helper != nil { // a testing.TB's (gotest.Mock): t.Error then reports the user's line
		m.helper.Helper()
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if size := len(args) + len(method) + 40; size > m.maxFrame {
		return nil, nil, &wire.FrameTooLargeError{Size: uint64(size), Max: m.maxFrame, Direction: wire.Send}
	}
	call := Call{Method: method, Args: args, Session: wire.SessionFrom(ctx), Stream: stream}
	call.stack = callsite.Capture(0)
	if err := m.refusal(); err != nil {
		return nil, nil, err
	}
	if err := m.acquire(ctx, method); err != nil {
		return nil, nil, err
	}
	m.mu.Lock()
	if err := m.refusalLocked(); err != nil { // it died, or was closed, as the call's turn came
		m.mu.Unlock()
		m.release(method)
		return nil, nil, err
	}
	if wire.Depth(args) > interpreterDepth {
		m.mu.Unlock()
		m.release(method)
		return nil, nil, &wire.PythonError{Kind: wire.KindBadRequest, Type: "BadRequest",
			Message: "args are value nested too deep to decode (the protocol allows 500 levels)"}
	}
	h, by := m.handlerLocked(method)
	handled := h != nil
	call.Handled, call.by = handled, by
	m.seq++
	call.Seq, call.Started = m.seq, m.now()
	st := &callState{m: m, index: m.calls.add(call), callGo: callGo, method: method}
	hctx, kill := context.WithCancelCause(ctx)
	st.ctx, st.kill = context.WithValue(hctx, callKey{}, st), kill
	m.inflight[st] = struct{}{}
	allow, fail := m.allowUnhand, m.fail
	var why string
	if !handled {
		why = m.unhandledLocked(method)
	}
	m.mu.Unlock()

	if !handled {
		if !allow && fail != nil {
			m.report(fail, fmt.Sprintf("mockpy: unhandled call %s%s: %s", call, at(call.where()), why))
		}
		return nil, st, &wire.PythonError{Kind: wire.KindUnknownMethod, Type: "UnknownMethod", Message: fmt.Sprintf("unknown method %q", method)}
	}
	result, err := h(st.ctx, call)
	if died := diedMeanwhile(st.ctx); died != nil { // another call, or Kill, ended the worker under it
		return nil, st, died
	}
	var mismatch *MismatchError
	if errors.As(err, &mismatch) {
		m.mu.Lock()
		m.mismatches = append(m.mismatches, mismatch)
		m.mu.Unlock()
		if fail != nil {
			m.report(fail, mismatch.Error())
		}
	}
	if err != nil {
		return nil, st, m.finish(ctx, err)
	}
	return result, st, nil
}

// refusal is the error a call gets before it is sent: the mock died (its
// exit error, also after Close) or was closed.
func (m *Interpreter) refusal() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.refusalLocked()
}

func (m *Interpreter) refusalLocked() error {
	if m.dead != nil {
		return m.dead
	}
	if m.closed {
		return wire.ErrClosed
	}
	return nil
}

// end ends a call begun by start: it enters the history's completion
// order, leaves the running calls and gives up its turn.
func (m *Interpreter) end(st *callState) {
	m.mu.Lock()
	delete(m.inflight, st)
	ended := m.now()
	m.calls.finish(st.index, ended)
	m.mu.Unlock()
	st.kill(context.Canceled)
	m.release(st.method)
}

// encode encodes a result or an item as the worker would, within the frame
// limit.
func (m *Interpreter) encode(method string, v any) (json.RawMessage, error) {
	raw, err := encodeResult(method, v)
	if err != nil {
		return nil, err
	}
	if len(raw)+40 > m.maxFrame {
		return nil, &wire.PythonError{Kind: wire.KindTooLarge, Type: "FrameTooLarge",
			Message: fmt.Sprintf("reply of %q is %d bytes, over the frame limit of %d", method, len(raw)+40, m.maxFrame)}
	}
	return raw, nil
}

// finish turns a handler's error into the call's: a GoError it let through
// is a Python exception of type GoError; a clean cancellation (Cancelled)
// returns the context's error and the mock lives; the rest as settle says.
func (m *Interpreter) finish(ctx context.Context, err error) error {
	var goErr *GoError
	var cancelled *cancelledError
	switch {
	case errors.As(err, &goErr):
		typ := "GoError"
		if goErr.Kind == wire.KindUnknownCallback {
			typ = wire.UnknownCallback // its subclass in Python
		}
		return &wire.PythonError{Kind: wire.KindException, Type: typ, Message: goErr.Message}
	case errors.As(err, &cancelled):
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &wire.PythonError{Kind: wire.KindCancelled, Type: "Cancelled", Message: cancelled.Error()}
	}
	return m.settle(ctx, err)
}

// settle turns a handler's error into the call's, and kills the mock when a
// real worker would be gone: a crash, or a call abandoned by its context.
func (m *Interpreter) settle(ctx context.Context, err error) error {
	var exited *wire.WorkerExitedError
	switch {
	case errors.As(err, &exited):
		if exited.WorkerID == "" {
			exited.WorkerID, exited.Pid = m.id, m.pid
		}
		m.die(exited)
		return exited
	case errors.Is(err, wire.ErrProtocol):
		m.die(err)
		return err
	case ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
		m.die(&wire.WorkerExitedError{WorkerID: m.id, Pid: m.pid, Code: 128 + 9, Signal: syscall.SIGKILL,
			Reason: fmt.Sprintf("killed by pyharness: call abandoned: %v", ctx.Err())})
		return ctx.Err()
	}
	return err
}

// encodeResult encodes a handler's result as Python's json would, with the
// error kinds and types a real worker reports.
func encodeResult(method string, result any) (json.RawMessage, error) {
	if raw, ok := result.(json.RawMessage); ok {
		if !json.Valid(raw) {
			return nil, &wire.PythonError{Kind: wire.KindUnserializable, Type: "ValueError", Message: fmt.Sprintf("result of %q is not valid JSON", method)}
		}
		return raw, nil
	}
	raw, err := json.Marshal(result)
	if err != nil {
		pyType := "TypeError"
		var unsupported *json.UnsupportedValueError
		if errors.As(err, &unsupported) && !strings.Contains(unsupported.Str, "cycle") {
			pyType = "ValueError" // NaN and infinities: ValueError in Python's json
		}
		return nil, &wire.PythonError{Kind: wire.KindUnserializable, Type: pyType,
			Message: fmt.Sprintf("result of %q is not JSON-serialisable: %v", method, err)}
	}
	return raw, nil
}
