package mockpy

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/pyharness/pyharness/wire"
)

// builtin returns the mock's version of a built-in or fault method of the
// real worker (PROTOCOL.md), with the same results and errors.
func (m *Interpreter) builtin(method string) (Handler, bool) {
	switch method {
	case "ping":
		return func(context.Context, Call) (any, error) { return m.hello(), nil }, true
	case "info":
		return func(context.Context, Call) (any, error) {
			info := m.hello()
			info["methods"] = m.methods()
			info["modules"] = []string{}
			info["sessions"] = m.sessionNames()
			return info, nil
		}, true
	case "reset":
		return m.reset, true
	case "shutdown":
		return func(ctx context.Context, _ Call) (any, error) {
			st, _ := ctx.Value(callKey{}).(*callState)
			m.dieExcept(st, &wire.WorkerExitedError{WorkerID: m.id, Pid: m.pid, Code: 0})
			return nil, nil
		}, true
	case "echo":
		return func(_ context.Context, call Call) (any, error) { return call.Args, nil }, true
	case "sleep":
		return func(ctx context.Context, call Call) (any, error) {
			seconds := numberArg(call, "seconds")
			return m.Delay(time.Duration(seconds*float64(time.Second)), Respond(seconds))(ctx, call)
		}, true
	case "fail":
		return func(_ context.Context, call Call) (any, error) {
			var args struct{ Type, Message string }
			_ = call.Decode(&args)
			if args.Type == "" {
				args.Type = "RuntimeError"
			}
			if args.Message == "" {
				args.Message = "fail requested"
			}
			return nil, exceptionIn("fail", args.Type, args.Message)
		}, true
	case "crash":
		return func(_ context.Context, call Call) (any, error) {
			var args struct {
				Code   int
				Signal string
				Stderr string
			}
			args.Code = 1
			_ = call.Decode(&args)
			var stderr []string
			if args.Stderr != "" {
				fmt.Fprintln(m.stderr, args.Stderr)
				stderr = []string{args.Stderr}
			}
			if strings.EqualFold(strings.TrimPrefix(strings.ToUpper(args.Signal), "SIG"), "KILL") {
				return nil, &wire.WorkerExitedError{Code: 128 + 9, Signal: syscall.SIGKILL, Stderr: stderr}
			}
			return nil, &wire.WorkerExitedError{Code: args.Code, Stderr: stderr}
		}, true
	case "hang":
		return Hang(), true
	case "print":
		return func(_ context.Context, call Call) (any, error) {
			var args struct{ Stdout, Stderr *string }
			_ = call.Decode(&args)
			if args.Stdout != nil {
				fmt.Fprintln(m.stdout, *args.Stdout)
			}
			if args.Stderr != nil {
				fmt.Fprintln(m.stderr, *args.Stderr)
			}
			return nil, nil
		}, true
	case "garbage":
		return Garbage(), true
	case "big":
		return func(_ context.Context, call Call) (any, error) {
			n := int(numberArg(call, "bytes"))
			if size := n + 2 + 40; size > m.maxFrame { // the reply a worker would build is over the limit
				return nil, &wire.PythonError{Kind: wire.KindTooLarge, Type: "FrameTooLarge",
					Message: fmt.Sprintf("reply of %q is %d bytes, over the frame limit of %d", "big", size, m.maxFrame)}
			}
			return strings.Repeat("x", n), nil
		}, true
	}
	return nil, false
}

func (m *Interpreter) hello() map[string]any {
	hello := map[string]any{
		"pid":       m.pid,
		"worker_id": m.id,
		"python":    "3.11.0+mockpy (" + runtime.Version() + ")",
		"uptime":    0.0,
		"protocol":  wire.ProtocolVersion,
		"max_frame": m.maxFrame,
		"features":  []string{"stream", "cancel", "callback", "async", wire.FeatureSegments, "pipeline"},
	}
	if m.multiplex() { // a worker started with realpy.WithConcurrency(n)
		hello["features"] = []string{"stream", "cancel", "callback", "async", wire.FeatureSegments, "multiplex"}
		hello["concurrency"] = m.limit
	}
	return hello
}

func (m *Interpreter) methods() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	names := []string{"big", "crash", "echo", "fail", "garbage", "hang", "info", "ping", "print", "reset", "shutdown", "sleep"}
	for name := range m.routes {
		names = append(names, name)
	}
	return names
}

// reset clears per-session state, as the worker's reset does.
func (m *Interpreter) reset(_ context.Context, call Call) (any, error) {
	var args struct{ Session *string }
	_ = call.Decode(&args)
	m.mu.Lock()
	defer m.mu.Unlock()
	session := call.Session
	if args.Session != nil {
		session = *args.Session
	}
	if session == "" && args.Session == nil {
		n := len(m.sessions)
		m.sessions = map[string]map[string]any{}
		return map[string]int{"cleared": n}, nil
	}
	if _, ok := m.sessions[session]; ok {
		delete(m.sessions, session)
		return map[string]int{"cleared": 1}, nil
	}
	return map[string]int{"cleared": 0}, nil
}

func (m *Interpreter) sessionNames() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	names := []string{}
	for name := range m.sessions {
		names = append(names, name)
	}
	return names
}

// State returns the per-session state of session ("" for calls without
// one), which handlers may use as Python handlers use current().state; reset
// clears it.
func (m *Interpreter) State(session string) map[string]any {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[session]
	if !ok {
		s = map[string]any{}
		m.sessions[session] = s
	}
	return s
}

// numberArg reads args that are a number or {key: number}.
func numberArg(call Call, key string) float64 {
	var n float64
	if call.Decode(&n) == nil {
		return n
	}
	var obj map[string]float64
	_ = call.Decode(&obj)
	return obj[key]
}
