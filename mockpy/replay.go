package mockpy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"

	"github.com/pyharness/pyharness/cassette"
)

// Replay returns a mock interpreter (New with opts) that answers from the
// cassette at path (package cassette), as ReplayCassette does. A missing
// cassette is an error (cassette.ErrNotFound): replay only, CI's default.
//
//	py, err := mockpy.Replay("testdata/cassettes/labels.jsonl", mockpy.WithFailHandler(Fail))
func Replay(path string, opts ...Option) (*Interpreter, error) {
	c, err := cassette.Load(path)
	if err != nil {
		return nil, err
	}
	return New(opts...).ReplayCassette(c, cassette.WithDir(path)), nil
}

// ReplayFile loads the cassette at path and answers from it (ReplayCassette).
func (m *Interpreter) ReplayFile(path string, opts ...cassette.Option) error {
	c, err := cassette.Load(path)
	if err != nil {
		return err
	}
	m.ReplayCassette(c, append([]cassette.Option{cassette.WithDir(path)}, opts...)...)
	return nil
}

// ReplayCassette makes the mock answer from c: a call takes the first
// recorded interaction not yet used that the matcher (cassette.WithMatcher;
// default cassette.ExactArgs, after the cassette's redaction) accepts, or,
// when all were used, the last that matches, and gets its answer: the
// result, the stream's items, or the error with its type (Python exceptions
// with their traceback, a lost worker as Crash, a deadline as Hang). The
// recorded calls into Go are made again, by name, to the Go functions the
// call offers (WithCallback, wire.WithCallbacks), and an answer that differs
// from the recorded one fails as a refused call does. A call that no
// interaction matches is refused (a *MismatchError, reported through
// WithFailHandler at the user's line) naming the nearest recorded call and
// the difference of its args. Routes set before or after take precedence
// for their methods; built-ins answer the methods the cassette never saw.
// (cassette.WithDir, as Replay and ReplayFile set it, names the cassette's
// file in failures.)
func (m *Interpreter) ReplayCassette(c *cassette.Cassette, opts ...cassette.Option) *Interpreter {
	cfg := cassette.Config{Matcher: cassette.ExactArgs}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.Matcher == nil {
		cfg.Matcher = cassette.ExactArgs
	}
	r := &replayer{m: m, c: c, match: cfg.Matcher, used: make([]bool, len(c.Interactions)), name: "the cassette"}
	if cfg.Dir != "" {
		r.name = filepath.Base(cfg.Dir)
	}
	seen := map[string]bool{}
	for _, in := range c.Interactions {
		if !seen[in.Method] {
			seen[in.Method] = true
			m.mu.Lock()
			_, routed := m.routes[in.Method]
			m.mu.Unlock()
			if !routed {
				m.RouteToHandler(in.Method, r.answer)
			}
		}
	}
	m.mu.Lock()
	m.fallback = r.answer
	m.mu.Unlock()
	return m
}

type replayer struct {
	m     *Interpreter
	c     *cassette.Cassette
	match cassette.Matcher
	name  string

	mu   sync.Mutex
	used []bool
}

func (r *replayer) answer(ctx context.Context, call Call) (any, error) {
	r.mu.Lock()
	idx := r.c.Find(r.match, call.Method, call.Args, r.used)
	if idx >= 0 {
		r.used[idx] = true
	}
	r.mu.Unlock()
	if idx < 0 {
		expected := "a call recorded in " + r.name
		if near := r.c.Nearest(call.Method, call.Args); near != "" {
			expected += "; " + near
		} else {
			expected += ", which is empty"
		}
		return nil, &MismatchError{Call: call, Expected: expected}
	}
	in := r.c.Interactions[idx]
	if !in.Stream {
		if err := r.callGo(ctx, call, idx, in.CallGo); err != nil {
			return nil, err
		}
		return r.end(ctx, call, in, json.RawMessage(in.Result))
	}
	return StreamFunc(func(ctx context.Context, call Call, yield func(any) bool) error {
		// The calls into Go interleave with the items as evenly as they
		// were made (one before each item when there are as many).
		done, n := 0, len(in.Items)
		for i, item := range in.Items {
			upto := len(in.CallGo)
			if n > 0 {
				upto = (i + 1) * len(in.CallGo) / n
			}
			if err := r.callGo(ctx, call, idx, in.CallGo[done:upto]); err != nil {
				return err
			}
			done = upto
			if !yield(item) {
				return nil
			}
		}
		if err := r.callGo(ctx, call, idx, in.CallGo[done:]); err != nil {
			return err
		}
		_, err := r.end(ctx, call, in, nil)
		return err
	})(ctx, call)
}

// end answers with the recorded result or error.
func (r *replayer) end(ctx context.Context, call Call, in cassette.Interaction, result any) (any, error) {
	if in.Error == nil {
		return result, nil
	}
	switch in.Error.Kind {
	case "worker_exited":
		return Crash(in.Error.Code)(ctx, call)
	case "deadline_exceeded", "canceled":
		return Hang()(ctx, call)
	}
	return nil, in.Error.Err()
}

// callGo makes the recorded calls into Go again and compares the answers.
func (r *replayer) callGo(ctx context.Context, call Call, idx int, calls []cassette.GoCall) error {
	for _, g := range calls {
		var raw json.RawMessage
		err := CallGo(ctx, g.Name, g.Args, &raw)
		var diff []string
		var ge *GoError
		switch {
		case errors.As(err, &ge) && (ge.Kind == "too_large" || ge.Kind == "unencodable") && g.Error == nil:
			// The recording saw the function's answer; the wire refused it,
			// as it did then.
		case err != nil && g.Error == nil:
			diff = []string{fmt.Sprintf("recorded result %s, got error %v", shorten(string(g.Result)), err)}
		case err == nil && g.Error != nil:
			diff = []string{fmt.Sprintf("recorded error %q, got result %s", g.Error.Message, shorten(string(raw)))}
		case err == nil:
			diff = cassette.Diff("result", r.c.Redact(g.Result), r.c.Redact(raw))
		}
		if len(diff) > 0 {
			mismatch := &MismatchError{Call: call, Expected: fmt.Sprintf(
				"the Go function %q to answer %s %s as recorded in %s (call %d); difference (recorded, got):\n    %s",
				g.Name, g.Name, shorten(string(g.Args)), r.name, idx+1, strings.Join(diff, "\n    "))}
			if call.Stream { // a stream's body runs past the call's start: report it here
				r.m.mu.Lock()
				r.m.mismatches = append(r.m.mismatches, mismatch)
				fail := r.m.fail
				r.m.mu.Unlock()
				if fail != nil {
					r.m.report(fail, mismatch.Error())
				}
			}
			return mismatch
		}
		// Both failed, as recorded: the handler's call_go raised, and the
		// recorded answer says what the handler made of it.
	}
	return nil
}

// shorten cuts a value's text for a failure message, as the cassette's
// own diffs do.
func shorten(s string) string {
	if len(s) <= 120 {
		return s
	}
	return fmt.Sprintf("%s… (%d bytes)", s[:100], len(s))
}
