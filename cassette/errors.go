package cassette

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/pyharness/pyharness/wire"
)

// ErrorOf records err: a Python error with its kind, type, message and
// traceback lines; a lost worker with its exit code; the other typed errors
// by kind, without their messages (which carry pids and timings).
func ErrorOf(err error) *Error {
	if err == nil {
		return nil
	}
	var py *wire.PythonError
	var exited *wire.WorkerExitedError
	switch {
	case errors.As(err, &py):
		return &Error{Kind: py.Kind, Type: py.Type, Message: py.Message, Traceback: relativeTraceback(py.UserTraceback())}
	case errors.As(err, &exited):
		return &Error{Kind: "worker_exited", Code: exited.Code}
	case errors.Is(err, wire.ErrWorkerExited):
		return &Error{Kind: "worker_exited"}
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Kind: "deadline_exceeded"}
	case errors.Is(err, context.Canceled):
		return &Error{Kind: "canceled"}
	case errors.Is(err, wire.ErrClosed):
		return &Error{Kind: "closed"}
	case errors.Is(err, wire.ErrFrameTooLarge):
		return &Error{Kind: "frame_too_large"}
	case errors.Is(err, wire.ErrProtocol):
		return &Error{Kind: "protocol"}
	case errors.Is(err, wire.ErrUnserializable):
		return &Error{Kind: "unserializable"}
	}
	return &Error{Kind: "error", Message: err.Error()}
}

// Err is the error a replay answers with: a *wire.PythonError (traceback
// included), a *wire.WorkerExitedError, the context's errors, or wire's
// sentinels, so errors.Is and errors.As match as they did on Python.
func (e *Error) Err() error {
	if e == nil {
		return nil
	}
	if e.Type != "" { // a Python error: its kinds may share a name with Go's own (unserializable)
		return e.pythonError()
	}
	switch e.Kind {
	case "worker_exited":
		return &wire.WorkerExitedError{Code: e.Code, Reason: "recorded in a cassette"}
	case "deadline_exceeded":
		return context.DeadlineExceeded
	case "canceled":
		return context.Canceled
	case "closed":
		return wire.ErrClosed
	case "frame_too_large":
		return fmt.Errorf("cassette: recorded: %w", wire.ErrFrameTooLarge)
	case "protocol":
		return fmt.Errorf("cassette: recorded: %w", wire.ErrProtocol)
	case "unserializable":
		return fmt.Errorf("cassette: recorded: %w", wire.ErrUnserializable)
	case "error":
		return errors.New(e.Message)
	}
	return e.pythonError()
}

func (e *Error) pythonError() error {
	tb := ""
	if len(e.Traceback) > 0 {
		tb = strings.Join(e.Traceback, "\n") + "\n"
	}
	return &wire.PythonError{Kind: e.Kind, Type: e.Type, Message: e.Message, Traceback: tb}
}
