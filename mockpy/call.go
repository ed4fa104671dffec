package mockpy

import (
	"encoding/json"
	"fmt"

	"github.com/pyharness/pyharness/internal/callsite"
	"github.com/pyharness/pyharness/wire"
)

// Call is one call the mock received.
type Call struct {
	Method  string
	Args    json.RawMessage // the args exactly as the wire would carry them
	Session string          // from wire.WithSession
	// Handled is false for a call no handler took (an unhandled call).
	Handled bool
	// Stream calls: how many items the caller took, and whether it left
	// before the stream ended (Cancelled).
	Stream    bool
	Items     int
	Cancelled bool
	// The calls the handler made into Go (CallGo), in order.
	Callbacks []GoCall

	by    string          // what answered it: "route", "appended handler 2", "built-in"
	stack *callsite.Stack // where it was made, resolved when a failure names it
}

// where is the user's line that made the call, "" when not known.
func (c Call) where() string {
	if f, ok := c.stack.User(); ok {
		return f.String()
	}
	return ""
}

// Decode decodes the call's args into v as a Python handler would see them:
// a number that lands in an interface value is an int when it is an integer
// literal that fits (a *big.Int when it does not), and a float64 otherwise,
// as Python's json reads int and float. (A result the caller decodes keeps
// realpy's rule, json.Number in an interface, on the mock as on Python.)
func (c Call) Decode(v any) error {
	if err := wire.Unmarshal(c.Args, v); err != nil {
		return err
	}
	pythonNumbers(v)
	return nil
}

// Value returns the args decoded into an interface value, as Decode does:
// {"n": 3} is map[string]any{"n": 3} (an int), so Equal(3) and
// BeNumerically("==", 3) both match it.
func (c Call) Value() any {
	var v any
	_ = c.Decode(&v)
	return v
}

func (c Call) String() string {
	if c.Session != "" {
		return fmt.Sprintf("%s(%s) [session %s]", c.Method, c.Args, c.Session)
	}
	return fmt.Sprintf("%s(%s)", c.Method, c.Args)
}

// history stores calls in fixed-size chunks: recording a call never copies
// the calls before it, however many there are.
type history struct{ chunks [][]Call }

const historyChunk = 1024

func (h *history) add(c Call) int {
	if n := len(h.chunks); n == 0 || len(h.chunks[n-1]) == historyChunk {
		h.chunks = append(h.chunks, make([]Call, 0, historyChunk))
	}
	last := &h.chunks[len(h.chunks)-1]
	*last = append(*last, c)
	return (len(h.chunks)-1)*historyChunk + len(*last) - 1
}

// update changes call i in place.
func (h *history) update(i int, fn func(*Call)) {
	fn(&h.chunks[i/historyChunk][i%historyChunk])
}

func (h *history) all() []Call {
	var out []Call
	for _, chunk := range h.chunks {
		out = append(out, chunk...)
	}
	return out
}
