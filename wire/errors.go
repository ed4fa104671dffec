package wire

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
)

// Sentinels for errors.Is. Each typed error below matches the sentinels that
// describe it, whichever side of the wire detected the problem.
var (
	// ErrUnknownMethod: the worker serves no method of that name.
	ErrUnknownMethod = errors.New("unknown method")
	// ErrUnserializable: a value could not be encoded as JSON (Go args or a Python result).
	ErrUnserializable = errors.New("value is not JSON-serialisable")
	// ErrFrameTooLarge: a frame exceeded the limit, in either direction.
	ErrFrameTooLarge = errors.New("frame too large")
	// ErrProtocol: the peer broke the protocol.
	ErrProtocol = errors.New("protocol violation")
	// ErrWorkerExited: the worker process is gone.
	ErrWorkerExited = errors.New("worker exited")
	// ErrClosed: the interpreter was closed by its owner.
	ErrClosed = errors.New("interpreter closed")
	// ErrBadRequest: the worker refused a request it read but could not
	// take (a malformed member, args nested too deep to decode).
	ErrBadRequest = errors.New("bad request")
)

// PythonError is an error a worker answered with: a Python exception raised by
// a handler (Kind "exception"), or the worker refusing a call (unknown method,
// unserialisable or oversize result, bad request). The worker lives on.
type PythonError struct {
	Kind      string // one of the Kind constants
	Type      string // Python exception class name, e.g. "ValueError"
	Message   string // str(exception)
	Traceback string // formatted Python traceback, empty when not an exception
}

// NewPythonError converts a response's error object.
func NewPythonError(obj *ErrorObject) *PythonError {
	return &PythonError{Kind: obj.Kind, Type: obj.Type, Message: obj.Message, Traceback: obj.Traceback}
}

// Error is one line naming the exception, then the Python traceback as
// lines, without the frames of pyharness's worker (UserTraceback); a
// traceback longer than a screen is shortened to its innermost lines.
func (e *PythonError) Error() string { return e.errorText() }

// Is matches the sentinel of the error's kind.
func (e *PythonError) Is(target error) bool {
	switch target {
	case ErrUnknownMethod:
		return e.Kind == KindUnknownMethod
	case ErrUnserializable:
		return e.Kind == KindUnserializable
	case ErrFrameTooLarge:
		return e.Kind == KindTooLarge
	case ErrBadRequest:
		return e.Kind == KindBadRequest
	}
	return false
}

// Direction says which way an oversize frame was going.
type Direction string

const (
	Send    Direction = "send"    // refused before writing; nothing was sent
	Receive Direction = "receive" // a length prefix over the limit was read
)

// FrameTooLargeError is a frame over the size limit. On Send nothing was
// written and the worker is unaffected; on Receive the stream cannot be
// resynchronised, so the worker is stopped.
type FrameTooLargeError struct {
	Size      uint64
	Max       int
	Direction Direction
}

func (e *FrameTooLargeError) Error() string {
	return fmt.Sprintf("frame too large (%s): %d bytes, limit %d", e.Direction, e.Size, e.Max)
}

// Is matches ErrFrameTooLarge.
func (e *FrameTooLargeError) Is(target error) bool { return target == ErrFrameTooLarge }

// ProtocolError is a violation of the protocol by the peer: bad JSON, a
// malformed envelope, a reply to an unknown id, a truncated frame.
type ProtocolError struct {
	Reason string
	Frame  []byte // the start of the offending payload, when there was one
	Err    error
}

func (e *ProtocolError) Error() string {
	var b strings.Builder
	b.WriteString("protocol violation: ")
	b.WriteString(e.Reason)
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if len(e.Frame) > 0 {
		fmt.Fprintf(&b, " (frame starts %q)", e.Frame)
	}
	return b.String()
}

func (e *ProtocolError) Unwrap() error { return e.Err }

// Is matches ErrProtocol.
func (e *ProtocolError) Is(target error) bool { return target == ErrProtocol }

// WorkerExitedError says a worker process is gone: how it ended and the last
// lines it wrote to stderr.
type WorkerExitedError struct {
	WorkerID string
	Pid      int
	// Code is the exit status, or 128+signal when a signal ended it (the
	// convention of gexec and shells).
	Code int
	// Signal is the signal that ended the process, 0 when it exited.
	Signal syscall.Signal
	// Reason says why it ended when pyharness ended it (e.g. a cancelled call).
	Reason string
	// Stderr holds the last lines the worker wrote to stderr.
	Stderr []string
}

func (e *WorkerExitedError) Error() string {
	var b strings.Builder
	b.WriteString("worker")
	if e.WorkerID != "" {
		b.WriteString(" " + e.WorkerID)
	}
	if e.Pid > 0 {
		fmt.Fprintf(&b, " (pid %d)", e.Pid)
	}
	switch {
	case e.Signal != 0:
		fmt.Fprintf(&b, " was killed by signal %d (%v)", int(e.Signal), e.Signal)
	case e.Code >= 0:
		fmt.Fprintf(&b, " exited with code %d", e.Code)
	default:
		b.WriteString(" is gone")
	}
	if e.Reason != "" {
		fmt.Fprintf(&b, ": %s", e.Reason)
	}
	if len(e.Stderr) > 0 {
		b.WriteString("; stderr tail:\n    ")
		b.WriteString(strings.Join(e.Stderr, "\n    "))
	}
	return b.String()
}

// Is matches ErrWorkerExited.
func (e *WorkerExitedError) Is(target error) bool { return target == ErrWorkerExited }

// EncodeError is a Go value that cannot be encoded as JSON.
type EncodeError struct{ Err error }

func (e *EncodeError) Error() string { return "encode as JSON: " + e.Err.Error() }
func (e *EncodeError) Unwrap() error { return e.Err }

// Is matches ErrUnserializable.
func (e *EncodeError) Is(target error) bool { return target == ErrUnserializable }

// DecodeError is a reply that does not fit the value it is decoded into.
type DecodeError struct{ Err error }

func (e *DecodeError) Error() string { return "decode JSON reply: " + e.Err.Error() }
func (e *DecodeError) Unwrap() error { return e.Err }
