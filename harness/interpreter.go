package harness

import "context"

// Interpreter is the call contract production code depends on. A mock
// (mockpy.Interpreter), one real worker (realpy.Worker), a pool
// (realpy.Pool) and a wire-level client (realpy.Client) all satisfy it, and
// the contract specs (package contract) hold them to the same behaviour.
type Interpreter interface {
	// Call runs method with args in Python and decodes the result into reply.
	Call(ctx context.Context, method string, args, reply any) error
	// Close releases the interpreter; later calls fail with wire.ErrClosed.
	Close() error
}
