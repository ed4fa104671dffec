package replay

import (
	"context"
	"errors"

	"github.com/pyharness/pyharness"
	"github.com/pyharness/pyharness/wire"
)

// caller is what the scenario drives: a pool, a recorder or a replay mock.
type caller interface {
	pyharness.Caller
	pyharness.Streamer
}

// outcome is everything the scenario saw, compared across targets.
type outcome struct {
	Labels    []map[string]any
	ErrType   string
	ErrMsg    string
	ErrIsPy   bool
	Tokens    []string
	Asked     []string
	Counted   []int
	StreamErr string
}

// scenario makes calls of every kind: results, a Python exception, a stream
// whose items each ask Go, and a stream that raises after its items.
func scenario(ctx context.Context, py caller) outcome {
	var out outcome
	for _, text := range []string{"great phone", "awful <b>phone</b>"} {
		var v map[string]any
		if err := py.Call(ctx, "classify", map[string]string{"text": text}, &v); err != nil {
			out.ErrMsg = "unexpected: " + err.Error()
			return out
		}
		out.Labels = append(out.Labels, v)
	}
	err := py.Call(ctx, "classify", map[string]int{"text": 3}, nil)
	var pe *wire.PythonError
	if errors.As(err, &pe) {
		out.ErrIsPy, out.ErrType, out.ErrMsg = true, pe.Type, pe.Message
	}
	cctx := wire.WithCallbacks(ctx, map[string]wire.Callback{
		"lexicon": wire.CallbackFunc(func(_ context.Context, word string) (string, error) {
			out.Asked = append(out.Asked, word)
			if word == "awful" {
				return "negative", nil
			}
			return "neutral", nil
		}),
	})
	for token, err := range wire.Items[string](py.Stream(cctx, "explain", map[string]string{"text": "an awful phone"})) {
		if err != nil {
			out.StreamErr = err.Error()
			break
		}
		out.Tokens = append(out.Tokens, token)
	}
	for n, err := range wire.Items[int](py.Stream(ctx, "fail_after", map[string]int{"n": 2})) {
		if err != nil {
			if errors.As(err, &pe) {
				out.StreamErr = pe.Type + ": " + pe.Message
			}
			break
		}
		out.Counted = append(out.Counted, n)
	}
	return out
}
