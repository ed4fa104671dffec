package cassette

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"sync"

	"github.com/pyharness/pyharness"
	"github.com/pyharness/pyharness/wire"
)

// Recorder is a pyharness.Caller and pyharness.Streamer that passes every
// call to the interpreter it wraps and records it: method, args, the result
// or error, stream items and the calls the handler made into Go. The calls
// into Go it sees are those offered on the call's context
// (wire.WithCallbacks): pass them that way to have them recorded.
// It is safe for concurrent use; interactions are kept in the order the
// calls started.
type Recorder struct {
	inner  pyharness.Caller
	redact []string
	off    bool

	mu  sync.Mutex
	cas Cassette
}

// NewRecorder records the calls made through it to inner. WithRedact
// applies before anything is kept.
func NewRecorder(inner pyharness.Caller, opts ...Option) *Recorder {
	var c Config
	for _, o := range opts {
		o(&c)
	}
	return &Recorder{inner: inner, redact: c.Redact, cas: Cassette{Redacted: c.Redact}}
}

// Passthrough returns a Recorder that records nothing: what a recording
// hook hands out when recording is off.
func Passthrough(inner pyharness.Caller) *Recorder { return &Recorder{inner: inner, off: true} }

// Inner returns the interpreter the recorder wraps.
func (r *Recorder) Inner() pyharness.Caller { return r.inner }

// Cassette returns a copy of what was recorded so far.
func (r *Recorder) Cassette() *Cassette {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := &Cassette{Redacted: r.cas.Redacted, Interactions: make([]Interaction, len(r.cas.Interactions))}
	copy(c.Interactions, r.cas.Interactions)
	return c
}

// Save writes what was recorded to path.
func (r *Recorder) Save(path string) error { return r.Cassette().Save(path) }

// start reserves the interaction of a call and wraps the context's calls
// into Go so that they are recorded into it.
func (r *Recorder) start(ctx context.Context, method string, args any, stream bool) (context.Context, int, error) {
	raw, err := wire.Marshal(args)
	if err != nil {
		return ctx, -1, err
	}
	r.mu.Lock()
	idx := len(r.cas.Interactions)
	r.cas.Interactions = append(r.cas.Interactions, Interaction{Method: method, Args: redact(raw, r.redact), Stream: stream})
	r.mu.Unlock()
	if fns := wire.CallbacksFrom(ctx); len(fns) > 0 {
		wrapped := make(map[string]wire.Callback, len(fns))
		for name, fn := range fns {
			wrapped[name] = r.recordCallback(idx, name, fn)
		}
		ctx = wire.WithCallbacks(ctx, wrapped)
	}
	return ctx, idx, nil
}

func (r *Recorder) recordCallback(idx int, name string, fn wire.Callback) wire.Callback {
	return func(ctx context.Context, args json.RawMessage) (result any, err error) {
		g := GoCall{Name: name, Args: redact(append(json.RawMessage(nil), args...), r.redact)}
		defer func() {
			if p := recover(); p != nil {
				g.Error = &Error{Kind: "panic", Message: fmt.Sprint(p)}
				r.update(idx, func(in *Interaction) { in.CallGo = append(in.CallGo, g) })
				panic(p)
			}
			if err != nil {
				g.Error = &Error{Kind: "error", Message: err.Error()}
			} else if raw, merr := wire.Marshal(result); merr == nil {
				g.Result = redact(raw, r.redact)
			} else {
				g.Error = &Error{Kind: "unencodable", Message: merr.Error()}
			}
			r.update(idx, func(in *Interaction) { in.CallGo = append(in.CallGo, g) })
		}()
		return fn(ctx, args)
	}
}

func (r *Recorder) update(idx int, f func(*Interaction)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(&r.cas.Interactions[idx])
}

// Call passes the call on and records it.
func (r *Recorder) Call(ctx context.Context, method string, args, reply any) error {
	if r.off {
		return r.inner.Call(ctx, method, args, reply)
	}
	ctx, idx, err := r.start(ctx, method, args, false)
	if err != nil {
		return r.inner.Call(ctx, method, args, reply) // the interpreter says what is wrong with args
	}
	var raw json.RawMessage
	err = r.inner.Call(ctx, method, args, &raw)
	r.update(idx, func(in *Interaction) {
		if err != nil {
			in.Error = ErrorOf(err)
		} else {
			in.Result = redact(orNull(raw), r.redact)
		}
	})
	if err != nil {
		return err
	}
	if err := wire.Unmarshal(raw, reply); err != nil {
		return fmt.Errorf("cassette: call %q: %w", method, err)
	}
	return nil
}

// Stream passes the stream on and records the items the caller takes, the
// error that ends it, or that the caller left early.
func (r *Recorder) Stream(ctx context.Context, method string, args any) iter.Seq2[json.RawMessage, error] {
	s, ok := r.inner.(pyharness.Streamer)
	if !ok {
		return func(yield func(json.RawMessage, error) bool) {
			yield(nil, fmt.Errorf("cassette: stream %q: %T is not a pyharness.Streamer: %w", method, r.inner, wire.ErrStreamUnsupported))
		}
	}
	if r.off {
		return s.Stream(ctx, method, args)
	}
	return func(yield func(json.RawMessage, error) bool) {
		ctx, idx, err := r.start(ctx, method, args, true)
		if err != nil {
			for item, err := range s.Stream(ctx, method, args) {
				if !yield(item, err) {
					return
				}
			}
			return
		}
		for item, err := range s.Stream(ctx, method, args) {
			if err != nil {
				r.update(idx, func(in *Interaction) { in.Error = ErrorOf(err) })
				yield(nil, err)
				return
			}
			r.update(idx, func(in *Interaction) { in.Items = append(in.Items, redact(orNull(item), r.redact)) })
			if !yield(item, nil) {
				r.update(idx, func(in *Interaction) { in.Cancelled = true })
				return
			}
		}
	}
}
