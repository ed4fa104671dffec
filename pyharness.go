// Package pyharness declares the call contract: the one interface production
// code that drives Python depends on. It imports nothing but the standard
// library, so a production binary that takes a pyharness.Caller links no
// test framework.
//
//	type Classifier struct{ py pyharness.Caller }
//
//	func (c *Classifier) Classify(ctx context.Context, text string) (Verdict, error) {
//		var v Verdict
//		err := c.py.Call(ctx, "classify", map[string]string{"text": text}, &v)
//		return v, err
//	}
//
// Everything that talks to Python satisfies it: a pool or one worker of
// package realpy (production and integration specs), the mock of package
// mockpy (unit specs), and a realpy.Client over any connection. The specs of
// package harness/contract hold all of them to the same behaviour, so the
// mock cannot drift from Python.
//
// The errors a call returns are typed, in package wire (also free of test
// dependencies): they come wrapped with context, so match them with
// errors.Is (wire.ErrWorkerExited, wire.ErrClosed, ...) or errors.As
// (*wire.PythonError, *wire.WorkerExitedError).
package pyharness

import (
	"context"
	"encoding/json"
	"iter"
)

// Caller runs Python methods: the call half of the contract, what production
// code should depend on.
type Caller interface {
	// Call runs method with args in Python and decodes its result into reply
	// (which may be nil). Args and results travel as JSON (PROTOCOL.md).
	// No call outlives ctx.
	Call(ctx context.Context, method string, args, reply any) error
}

// Interpreter is a Caller that its owner closes: a worker, a pool, a mock.
type Interpreter interface {
	Caller
	// Close releases the interpreter; later calls fail with wire.ErrClosed.
	Close() error
}

// Streamer streams a method's answer, item by item, as its Python handler
// yields them: realpy's Worker, Pool and Client, and mockpy's Interpreter.
// Breaking out of the loop cancels the stream (the generator is closed).
// wire.Items decodes the items into a Go type.
type Streamer interface {
	Stream(ctx context.Context, method string, args any) iter.Seq2[json.RawMessage, error]
}
