package realpy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// CallError is a call ended by its context (its deadline, or a
// cancellation) or by the pool's WithCallTimeout, before a reply: it names
// the method, the worker, what ended the call and where the call was then.
// errors.Is(err, context.DeadlineExceeded) (or context.Canceled) holds.
type CallError struct {
	Method string
	Worker string        // the worker that ran the call, or that it waited for ("" for none)
	Took   time.Duration // from the call to its end
	Limit  time.Duration // the deadline, from the start of the call (0: none, a cancellation)
	By     string        // what set the deadline: "its context", or "the pool's WithCallTimeout"
	Stage  string        // where the call was when it ended
	Err    error         // the context's error

	waited bool // the call never reached Worker: it waited for it
}

func (e *CallError) Error() string {
	var b strings.Builder
	b.WriteString("realpy: ")
	if e.Worker != "" && !e.waited {
		b.WriteString(e.Worker + ": ")
	} else {
		b.WriteString("pool: ")
	}
	fmt.Fprintf(&b, "call %q: %v after %v", e.Method, e.Err, e.Took.Round(time.Millisecond))
	switch {
	case e.Limit > 0:
		fmt.Fprintf(&b, " (the deadline of %s, %v from the call)", e.By, e.Limit.Round(time.Millisecond))
	case e.Err == context.Canceled:
		fmt.Fprintf(&b, " (%s was cancelled)", e.By)
	}
	if e.Stage != "" {
		b.WriteString(", " + e.Stage)
	}
	return b.String()
}

func (e *CallError) Unwrap() error { return e.Err }

// stagedErr is a context's error with where the call was when it came:
// the client and the pool set it, CallError reports it.
type stagedErr struct {
	err    error
	stage  string
	worker string // the worker a pool's call waited for
}

func (e *stagedErr) Error() string { return e.err.Error() }
func (e *stagedErr) Unwrap() error { return e.err }

// newCallError returns the CallError for err, the error of a call of
// method that started at start on ctx, when ctx ending is what ended it;
// nil otherwise.
func newCallError(ctx context.Context, method, worker string, start time.Time, err error) *CallError {
	cause := ctx.Err()
	if cause == nil || err == nil {
		return nil
	}
	var staged *stagedErr
	if !errors.As(err, &staged) && !errors.Is(err, cause) {
		return nil
	}
	e := &CallError{Method: method, Worker: worker, Took: time.Since(start), By: "its context", Err: cause}
	if d, ok := ctx.Deadline(); ok && cause == context.DeadlineExceeded {
		e.Limit = d.Sub(start)
	}
	if staged != nil {
		e.Stage = staged.stage
		if staged.worker != "" {
			e.Worker, e.waited = staged.worker, true
		}
	}
	return e
}
