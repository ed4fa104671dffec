package mockpy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/jonboulle/clockwork"
	"github.com/onsi/gomega/gbytes"

	"github.com/pyharness/pyharness/internal/callsite"
	"github.com/pyharness/pyharness/wire"
)

// Handler answers a call: a result (encoded as JSON, as Python's would be) or
// an error (a *wire.PythonError, or a fault from this package).
type Handler func(ctx context.Context, call Call) (any, error)

// interpreterDepth is how deep a real worker decodes args: Python's default
// recursion limit. The mock refuses deeper args as the worker does.
const interpreterDepth = 990

// Interpreter is a mock Python interpreter. It is safe for concurrent use.
type Interpreter struct {
	mu          sync.Mutex
	routes      map[string]Handler
	sequence    []Handler
	next        int
	calls       history
	allowUnhand bool
	builtins    bool
	fail        func(message string, callerSkip ...int)
	allowUnused bool
	appendSites []string // where each appended handler was appended
	helper      interface{ Helper() }
	clock       clockwork.Clock
	maxFrame    int
	pid         int
	id          string
	sessions    map[string]map[string]any
	dead        error // once set, every call fails with it
	closed      bool
	mismatches  []*MismatchError
	stdout      *gbytes.Buffer
	stderr      *gbytes.Buffer
	callbacks   map[string]wire.Callback
	fallback    Handler // replay.go: a cassette answers what nothing else does
}

// Option configures New.
type Option func(*Interpreter)

// WithoutBuiltins turns the worker's built-in and fault methods (ping, echo,
// fail, crash, ...) off: only routed and appended handlers answer.
func WithoutBuiltins() Option { return func(m *Interpreter) { m.builtins = false } }

// WithFailHandler makes forbidden unhandled calls report through fail, e.g.
// ginkgo.Fail, so they fail the running spec. callerSkip is set as for
// ginkgo.Fail called by the mock, so the failure is placed at the user's
// line that made the call; a wrapper around Fail passes callerSkip[0]+1.
func WithFailHandler(fail func(message string, callerSkip ...int)) Option {
	return func(m *Interpreter) { m.fail = fail }
}

// WithClock sets the clock of Delay and the sleep built-in; with a
// clockwork.FakeClock no spec sleeps for real.
func WithClock(clock clockwork.Clock) Option { return func(m *Interpreter) { m.clock = clock } }

// WithMaxFrame sets the frame limit, as realpy.WithMaxFrame does.
func WithMaxFrame(n int) Option { return func(m *Interpreter) { m.maxFrame = n } }

// WithWorkerID sets the id ping reports.
func WithWorkerID(id string) Option { return func(m *Interpreter) { m.id = id } }

// WithUnusedHandlersAllowed turns the end-of-test check of gotest.Mock and
// isolation.Basic off: an appended handler no call used then passes. By
// default a mock is strict: a handler appended and never used fails the
// test, naming how many were appended and used and the calls that came.
func WithUnusedHandlersAllowed() Option { return func(m *Interpreter) { m.allowUnused = true } }

// New returns a mock interpreter with the worker's built-in methods, that
// forbids unhandled calls (SetAllowUnhandledCalls changes that).
func New(opts ...Option) *Interpreter {
	m := &Interpreter{
		routes:   map[string]Handler{},
		builtins: true,
		clock:    clockwork.NewRealClock(),
		maxFrame: wire.DefaultMaxFrame,
		pid:      100000 + rand.IntN(900000),
		id:       "mock",
		sessions: map[string]map[string]any{},
		stdout:   gbytes.NewBuffer(),
		stderr:   gbytes.NewBuffer(),
	}
	for _, opt := range opts {
		opt(m)
	}
	return m
}

// RouteToHandler answers every call of method with h. As in ghttp, routes
// take precedence over appended handlers, which take precedence over
// built-ins.
func (m *Interpreter) RouteToHandler(method string, h Handler) *Interpreter {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.routes[method] = h
	return m
}

// AppendHandlers queues handlers that answer the next calls that no route
// takes, one each, in order, whatever their method; built-ins answer once the
// queue is used up. Pin a method with CombineHandlers(VerifyMethod(m), ...);
// HaveConsumedAllHandlers checks the queue was used up.
func (m *Interpreter) AppendHandlers(hs ...Handler) *Interpreter {
	where := ""
	if f, _, ok := callsite.User(1); ok {
		where = f.Long()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sequence = append(m.sequence, hs...)
	for range hs {
		m.appendSites = append(m.appendSites, where)
	}
	return m
}

// SetAllowUnhandledCalls says whether a call nothing handles is allowed: it
// then gets the real worker's unknown-method error. Forbidden (the default),
// it also fails the spec through WithFailHandler.
func (m *Interpreter) SetAllowUnhandledCalls(allow bool) *Interpreter {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.allowUnhand = allow
	return m
}

// Calls returns every call received, in order.
func (m *Interpreter) Calls() []Call {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls.all()
}

// CallsTo returns the calls of method, in order.
func (m *Interpreter) CallsTo(method string) []Call {
	var out []Call
	for _, c := range m.Calls() {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// Unconsumed returns how many appended handlers no call has used yet.
func (m *Interpreter) Unconsumed() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sequence) - m.next
}

// Mismatches returns the calls VerifyMethod and VerifyArgs refused, in order.
func (m *Interpreter) Mismatches() []*MismatchError {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.mismatches)
}

// UnhandledCalls returns the calls no handler took.
func (m *Interpreter) UnhandledCalls() []Call {
	var out []Call
	for _, c := range m.Calls() {
		if !c.Handled {
			out = append(out, c)
		}
	}
	return out
}

// Pid returns the pid the mock reports in ping (no such process exists).
func (m *Interpreter) Pid() int { return m.pid }

// Stdout and Stderr hold what the print built-in wrote, as a real worker's.
func (m *Interpreter) Stdout() *gbytes.Buffer { return m.stdout }

// Stderr: see Stdout.
func (m *Interpreter) Stderr() *gbytes.Buffer { return m.stderr }

// Kill makes the mock behave as a worker killed by SIGKILL.
func (m *Interpreter) Kill() error {
	m.die(&wire.WorkerExitedError{WorkerID: m.id, Pid: m.pid, Code: 128 + 9, Signal: syscall.SIGKILL, Reason: "killed"})
	return nil
}

func (m *Interpreter) die(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dead == nil {
		m.dead = err
	}
}

// Close makes later calls fail with wire.ErrClosed (a mock that died keeps
// its exit error, as a real worker does). Idempotent.
func (m *Interpreter) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

// Call answers method with args, decoding the result into reply (which may be
// nil), with the encoding and errors of a real worker: args and result go
// through JSON exactly as on the wire.
func (m *Interpreter) Call(ctx context.Context, method string, args, reply any) error {
	if m.helper != nil { // a testing.TB's (gotest.Mock): t.Error then reports the user's line
		m.helper.Helper()
	}
	raw, err := wire.Marshal(args)
	if err != nil {
		return fmt.Errorf("mockpy: call %q: %w", method, err)
	}
	if err := checkText(ctx, method); err != nil {
		return fmt.Errorf("mockpy: call %q: %w", method, err)
	}
	result, err := m.invoke(ctx, method, raw, m.localGo())
	if err != nil {
		return fmt.Errorf("mockpy: call %q: %w", method, err)
	}
	if err := wire.Unmarshal(result, reply); err != nil {
		return fmt.Errorf("mockpy: call %q: %w", method, err)
	}
	return nil
}

// invoke runs a plain call and returns the result as the wire would carry it.
func (m *Interpreter) invoke(ctx context.Context, method string, args json.RawMessage,
	callGo func(context.Context, *wire.CallbackFrame) wire.Return) (json.RawMessage, error) {
	if m.helper != nil { // a testing.TB's (gotest.Mock): t.Error then reports the user's line
		m.helper.Helper()
	}
	answer, _, err := m.start(ctx, method, args, false, callGo)
	if err != nil {
		return nil, err
	}
	if _, ok := answer.(*streamAnswer); ok {
		return nil, &wire.PythonError{Kind: wire.KindBadRequest, Type: "StreamingMethod",
			Message: fmt.Sprintf("method %q yields a stream: call it with Stream", method)}
	}
	return m.encode(method, answer)
}

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
	m.mu.Lock()
	if m.dead != nil { // a dead worker keeps its exit error, also after Close
		err := m.dead
		m.mu.Unlock()
		return nil, nil, err
	}
	if m.closed {
		m.mu.Unlock()
		return nil, nil, wire.ErrClosed
	}
	if wire.Depth(args) > interpreterDepth {
		m.mu.Unlock()
		return nil, nil, &wire.PythonError{Kind: wire.KindBadRequest, Type: "BadRequest",
			Message: "args are value nested too deep to decode (the protocol allows 500 levels)"}
	}
	h, by := m.handlerLocked(method)
	handled := h != nil
	call.Handled, call.by = handled, by
	st := &callState{m: m, index: m.calls.add(call), callGo: callGo}
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
	result, err := h(context.WithValue(ctx, callKey{}, st), call)
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

// handlerLocked returns the handler of a call and what it is (for the
// failure texts), or nil.
func (m *Interpreter) handlerLocked(method string) (Handler, string) {
	if h, ok := m.routes[method]; ok {
		return h, "route"
	}
	if m.next < len(m.sequence) {
		h := m.sequence[m.next]
		m.next++
		by := fmt.Sprintf("appended handler %d", m.next)
		if m.next <= len(m.appendSites) && m.appendSites[m.next-1] != "" {
			by += fmt.Sprintf(" (appended at %s)", filepath.Base(m.appendSites[m.next-1]))
		}
		return h, by
	}
	if m.builtins {
		if h, ok := m.builtin(method); ok {
			return h, "built-in"
		}
	}
	if m.fallback != nil { // a cassette's (replay.go)
		return m.fallback, "cassette"
	}
	return nil, ""
}

// unhandledLocked says why nothing took a call of method.
func (m *Interpreter) unhandledLocked(method string) string {
	route := fmt.Sprintf("no route for %q", method)
	if len(m.routes) > 0 {
		route += fmt.Sprintf(" (routes: %s)", strings.Join(slices.Sorted(maps.Keys(m.routes)), ", "))
	}
	parts := []string{route}
	switch n := len(m.sequence); n {
	case 0:
		parts = append(parts, "no handler appended")
	default:
		parts = append(parts, fmt.Sprintf("all %d appended handler(s) already used", n))
	}
	if m.builtins {
		parts = append(parts, "no built-in of that name")
	} else {
		parts = append(parts, "built-ins off")
	}
	return strings.Join(parts, ", ")
}

// at is " at file:line" for a known user line.
func at(where string) string {
	if where == "" {
		return ""
	}
	return " at " + where
}

// report calls fail and absorbs the panic with which Ginkgo's Fail stops a
// spec: the failure is recorded either way, and the call still returns its
// typed error, also on a goroutine that is not the spec's (the wire fake's).
// The failure is located at the user's line that made the call: the first
// frame in a _test.go file, else the first outside pyharness (callerSkip
// counts from report's caller, as ginkgo.Fail's does from its own).
func (m *Interpreter) report(fail func(string, ...int), message string) {
	if m.helper != nil { // a testing.TB's (gotest.Mock): t.Error then reports the user's line
		m.helper.Helper()
	}
	defer func() { _ = recover() }()
	skip := 2
	if _, depth, ok := callsite.User(0); ok {
		skip = depth
	}
	fail(message, skip)
}
