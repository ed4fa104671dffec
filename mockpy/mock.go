package mockpy

import (
	"context"
	"encoding/json"
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
	"github.com/pyharness/pyharness/internal/ownership"
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

	// Concurrency (concurrency.go): the limit (0: none), the calls
	// running under it and those waiting their turn, in order; the calls
	// running (cancelled when the mock dies); ended is closed once the mock
	// dies or is closed.
	limit    int
	running  int
	waiting  []chan struct{}
	inflight map[*callState]struct{}
	seq      int
	ended    chan struct{}
	over     bool    // ended is closed
	fallback Handler // replay.go: a cassette answers what nothing else does
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
		inflight: map[*callState]struct{}{},
		ended:    make(chan struct{}),
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

// Calls returns every call received, in the order they ended (the order
// they were made, for calls that do not overlap), then those still
// running, in the order they started; Call.Seq is the order they started.
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

func (m *Interpreter) die(err error) { m.dieExcept(nil, err) }

// dieExcept kills the mock with err: every call still running but except's
// (the shutdown that answers) fails with it, and waiting ones get it too.
func (m *Interpreter) dieExcept(except *callState, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dead != nil {
		return
	}
	m.dead = err
	m.endLocked()
	for st := range m.inflight {
		if st != except {
			st.kill(&peerDeath{err: err})
		}
	}
}

func (m *Interpreter) endLocked() {
	if !m.over {
		m.over = true
		close(m.ended)
	}
}

// Close makes later calls fail with wire.ErrClosed (a mock that died keeps
// its exit error, as a real worker does). Idempotent.
func (m *Interpreter) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.endLocked()
	return nil
}

// Call answers method with args, decoding the result into reply (which may be
// nil), with the encoding and errors of a real worker: args and result go
// through JSON exactly as on the wire.
func (m *Interpreter) Call(ctx context.Context, method string, args, reply any) error {
	if m.helper != nil { // a testing.TB's (gotest.Mock): t.Error then reports the user's line
		m.helper.Helper()
	}
	defer ownership.BeginCall(m.id, m.pid, method).End()
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
	answer, st, err := m.start(ctx, method, args, false, callGo)
	if st != nil {
		defer m.end(st)
	}
	if err != nil {
		return nil, err
	}
	if _, ok := answer.(*streamAnswer); ok {
		return nil, &wire.PythonError{Kind: wire.KindBadRequest, Type: "StreamingMethod",
			Message: fmt.Sprintf("method %q yields a stream: call it with Stream", method)}
	}
	return m.encode(method, answer)
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
