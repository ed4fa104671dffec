package cassette

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/pyharness/pyharness"
	"github.com/pyharness/pyharness/wire"
)

// DriftError says that real Python no longer answers as a cassette
// recorded: for each call that differs, the call and the differences.
type DriftError struct {
	Path   string // the cassette's file, when known
	Calls  int    // how many calls were made again
	Drifts []Drift
}

// Drift is one call whose answer changed.
type Drift struct {
	Index       int // 1-based, the interaction's line after the header
	Interaction Interaction
	Diff        []string
}

func (e *DriftError) Error() string {
	var b strings.Builder
	name := "cassette"
	if e.Path != "" {
		name = "cassette " + e.Path
	}
	fmt.Fprintf(&b, "%s: %d of %d recorded calls answered differently on real Python (re-record with %s=all if the change is meant):",
		name, len(e.Drifts), e.Calls, EnvRecord)
	for _, d := range e.Drifts {
		fmt.Fprintf(&b, "\n  call %d: %s(%s)\n    %s", d.Index, d.Interaction.Method, shorten(string(d.Interaction.Args)), strings.Join(d.Diff, "\n    "))
	}
	return b.String()
}

// Verify makes each of c's calls again on py, in order, and returns a
// *DriftError when an answer differs from the recorded one: the result, the
// stream's items, the error's kind, type and message (not its traceback),
// and the calls into Go (name and args; Go answers them with their recorded
// answers). A redacted value reaches Python as RedactedValue.
func Verify(ctx context.Context, c *Cassette, py pyharness.Caller) error {
	drift := &DriftError{Calls: len(c.Interactions)}
	for i, in := range c.Interactions {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("cassette: verify: %w", err)
		}
		if diff := verifyOne(ctx, in, py); len(diff) > 0 {
			drift.Drifts = append(drift.Drifts, Drift{Index: i + 1, Interaction: in, Diff: diff})
		}
	}
	if len(drift.Drifts) > 0 {
		return drift
	}
	return nil
}

// goAnswers answers a handler's calls into Go from the recording, noting
// each difference.
type goAnswers struct {
	mu    sync.Mutex
	calls []GoCall
	next  int
	diff  []string
}

func (g *goAnswers) callback(name string) wire.Callback {
	return func(_ context.Context, args json.RawMessage) (any, error) {
		g.mu.Lock()
		defer g.mu.Unlock()
		n := g.next
		g.next++
		if n >= len(g.calls) {
			g.diff = append(g.diff, fmt.Sprintf("call_go[%d]: not recorded, got %s %s", n, name, args))
			return nil, fmt.Errorf("cassette: call into Go %s %s was not recorded", name, args)
		}
		rec := g.calls[n]
		if rec.Name != name {
			g.diff = append(g.diff, fmt.Sprintf("call_go[%d]: recorded %s %s, got %s %s", n, rec.Name, rec.Args, name, args))
		} else {
			g.diff = append(g.diff, Diff(fmt.Sprintf("call_go[%d].args", n), rec.Args, args)...)
		}
		if rec.Error != nil {
			return nil, rec.Error.Err()
		}
		return json.RawMessage(orNull(rec.Result)), nil
	}
}

func verifyOne(ctx context.Context, in Interaction, py pyharness.Caller) []string {
	answers := &goAnswers{calls: in.CallGo}
	if len(in.CallGo) > 0 {
		fns := map[string]wire.Callback{}
		for _, g := range in.CallGo {
			fns[g.Name] = answers.callback(g.Name)
		}
		ctx = wire.WithCallbacks(ctx, fns)
	}
	var diff []string
	var got Interaction
	if in.Stream {
		s, ok := py.(pyharness.Streamer)
		if !ok {
			return []string{fmt.Sprintf("stream: %T is not a pyharness.Streamer", py)}
		}
		for item, err := range s.Stream(ctx, in.Method, in.Args) {
			if err != nil {
				got.Error = ErrorOf(err)
				break
			}
			got.Items = append(got.Items, item)
			if in.Cancelled && len(got.Items) == len(in.Items) {
				break
			}
		}
		diff = append(diff, Diff("items", itemsJSON(in.Items), itemsJSON(got.Items))...)
	} else {
		var raw json.RawMessage
		if err := py.Call(ctx, in.Method, in.Args, &raw); err != nil {
			got.Error = ErrorOf(err)
		} else {
			got.Result = orNull(raw)
			if in.Error == nil {
				diff = append(diff, Diff("result", in.Result, got.Result)...)
			}
		}
	}
	diff = append(diff, errorDiff(in.Error, got.Error)...)
	answers.mu.Lock()
	diff = append(diff, answers.diff...)
	if !in.Cancelled && answers.next < len(in.CallGo) {
		for n := answers.next; n < len(in.CallGo); n++ {
			diff = append(diff, fmt.Sprintf("call_go[%d]: recorded %s %s, not made", n, in.CallGo[n].Name, in.CallGo[n].Args))
		}
	}
	answers.mu.Unlock()
	return diff
}

func itemsJSON(items []json.RawMessage) json.RawMessage {
	parts := make([]string, len(items))
	for i, it := range items {
		parts[i] = string(orNull(it))
	}
	return json.RawMessage("[" + strings.Join(parts, ",") + "]")
}

func errorDiff(rec, got *Error) []string {
	switch {
	case rec == nil && got == nil:
		return nil
	case rec == nil:
		return []string{fmt.Sprintf("error: recorded none, got %s", got)}
	case got == nil:
		return []string{fmt.Sprintf("error: recorded %s, got none", rec)}
	case rec.Kind != got.Kind || rec.Type != got.Type || rec.Message != got.Message || rec.Code != got.Code:
		return []string{fmt.Sprintf("error: recorded %s, got %s", rec, got)}
	}
	return nil
}
