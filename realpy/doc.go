// Package realpy runs real Python interpreters for tests and drives them
// over the pyharness wire protocol (PROTOCOL.md).
//
// One worker:
//
//	w, err := realpy.Start(ctx, realpy.WithModules("sentiment"), realpy.WithPythonPath("testdata"))
//	defer w.Close() // shutdown, EOF, SIGTERM, SIGKILL; returns once reaped
//	err = w.Call(ctx, "classify", map[string]string{"text": "great"}, &label)
//
// Start returns when the worker answers a readiness ping, never after a
// sleep. Each worker runs in a process group of its own, talks on a socket of
// its own (its stdout and stderr, captured in an Output each, stay free for
// print()), and fails with typed errors from package wire: a Python
// exception, a worker that exited (with its stderr tail), a protocol
// violation, an oversize frame, or the context's error (the worker is then
// killed: its state is unknown).
//
// A pool:
//
//	p, err := realpy.StartPool(ctx, realpy.WithSize(8), realpy.WithStrategy(realpy.ZygoteFork),
//		realpy.WithPreload("numpy"))
//
// starts its workers concurrently, or forks them from one zygote that
// imported the heavy modules once; replaces crashed and hung workers
// (WithHeartbeat); publishes lifecycle events (Subscribe) so specs wait on
// events; routes sessions (WithAffinity); bounds waits (WithCheckoutTimeout);
// and, opt-in, retries and breaks circuits on a clock a spec controls
// (WithRetry, WithBreaker). Fresh hands out a private worker.
//
// Every interpreter carries its owner's pid and a run id, so the next run's
// StartPool (or ReapOrphans) kills what a run killed outright left behind.
//
// Interpreter discovery: WithPython, then $PYHARNESS_PYTHON, then python3 on
// PATH; a shim (pyenv, asdf) is resolved once to the real executable.
package realpy

import "github.com/pyharness/pyharness"

// Every way of reaching Python satisfies the call contract.
var (
	_ pyharness.Interpreter = (*Worker)(nil)
	_ pyharness.Interpreter = (*Pool)(nil)
	_ pyharness.Interpreter = (*Client)(nil)
)
