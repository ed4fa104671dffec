package mockpy

import (
	"encoding/json"
	"fmt"
	"time"

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
	// Seq numbers the calls in the order they started (from 1): the
	// history (Calls) is in the order they ended, so with calls that
	// overlap (WithConcurrency) sort by Seq for the order they began.
	// Started and Ended are on the mock's clock (WithClock); Ended is zero
	// while the call runs.
	Seq            int
	Started, Ended time.Time

	done  bool            // it has ended
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

// history stores calls in fixed-size chunks, in the order they started:
// recording a call never copies the calls before it, however many there
// are. order holds their indices in the order they ended.
type history struct {
	chunks [][]Call
	order  []int
}

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

// finish records that call i ended at t.
func (h *history) finish(i int, t time.Time) {
	h.update(i, func(c *Call) { c.done, c.Ended = true, t })
	h.order = append(h.order, i)
}

// all returns the calls that ended, in the order they ended, then those
// still running, in the order they started.
func (h *history) all() []Call {
	out := make([]Call, 0, len(h.order))
	for _, i := range h.order {
		out = append(out, h.chunks[i/historyChunk][i%historyChunk])
	}
	for _, chunk := range h.chunks {
		for _, c := range chunk {
			if !c.done {
				out = append(out, c)
			}
		}
	}
	return out
}
