// Package mockpy is a mock Python interpreter for unit specs: no process,
// no Python, microseconds per call, and the same call contract, the same JSON
// encoding and the same typed errors as a real worker (package realpy), so a
// spec cannot pass on the mock and fail on Python because of them.
//
// It reads like gomega's ghttp:
//
//	py := mockpy.New()
//	py.RouteToHandler("predict", mockpy.Respond(map[string]any{"label": "positive"}))
//	py.AppendHandlers(mockpy.Raise("ValueError", "empty text"))  // consumed in order
//	...
//	Expect(py).To(mockpy.HaveReceived("predict", mockpy.WithArgs(HaveKeyWithValue("text", "great"))))
//	Expect(py).To(mockpy.HaveConsumedAllHandlers())
//
// Faults use the real error types: Raise (a Python exception), Crash (the
// worker exits: this and later calls get *wire.WorkerExitedError), Hang (the
// call blocks until its context ends, then the worker is gone, as a real one
// is killed), Delay (latency on the mock's clock, so a fake clockwork clock
// makes it instant).
//
// The wire-level fake (Pipe, Serve) speaks the exact frames of PROTOCOL.md
// over an in-memory connection, so realpy's client code (framing, id
// correlation, error decoding, frame limits) runs without Python:
//
//	client, err := realpy.NewClient(ctx, py.Pipe())
//
// Many calls at once: WithConcurrency(n) serves up to n calls at once, as a
// multiplexing worker does (the others wait their turn, in order; overlap
// shows on the fake clock; the history is in completion order, Call.Seq
// keeping the start order), and its wire fake lists "multiplex" and
// replies as each call ends.
//
// Failures read at the user's line: with WithFailHandler(ginkgo.Fail) an
// unhandled or refused call fails the spec at the spec's line that made it.
// Strict by default: gotest.Mock and isolation.Basic fail a test that left
// an appended handler unused (WithUnusedHandlersAllowed opts out). Numbers in
// args read as Python reads them (Call.Decode). mockpy needs no Ginkgo.
package mockpy

import "github.com/pyharness/pyharness"

// The mock satisfies the call contract, like realpy's workers and pools.
var _ pyharness.Interpreter = (*Interpreter)(nil)
