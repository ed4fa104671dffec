// Package sentiment is a small service as a team would write it: production
// Go code that asks Python (python/sentiment_handlers.py) to classify
// reviews, through the call contract only, so that unit specs hand it a mock
// and integration specs a real pool.
package sentiment

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"

	"github.com/pyharness/pyharness"
	"github.com/pyharness/pyharness/wire"
)

// Verdict is what the classifier says about a text.
type Verdict struct {
	Label string  `json:"label"` // positive, negative or neutral
	Score float64 `json:"score"` // confidence in [0, 1]
}

// ErrEmpty: there is nothing to classify.
var ErrEmpty = errors.New("sentiment: empty text")

// ErrUnavailable: the Python side is down (crashed, hung, or closed); the
// caller may retry later.
var ErrUnavailable = errors.New("sentiment: classifier unavailable")

// Classifier labels reviews.
type Classifier struct{ py pyharness.Caller }

// NewClassifier returns a classifier that calls py: a realpy.Pool in
// production, a mockpy.Interpreter in unit specs (anything that satisfies
// the call contract, pyharness.Caller).
func NewClassifier(py pyharness.Caller) *Classifier { return &Classifier{py: py} }

// Classify labels one text.
func (c *Classifier) Classify(ctx context.Context, text string) (Verdict, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return Verdict{}, ErrEmpty
	}
	var v Verdict
	err := c.py.Call(ctx, "classify", map[string]string{"text": text}, &v)
	switch {
	case err == nil:
		return v, nil
	case errors.Is(err, wire.ErrWorkerExited), errors.Is(err, wire.ErrClosed), errors.Is(err, wire.ErrProtocol):
		return Verdict{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	default:
		return Verdict{}, fmt.Errorf("sentiment: classify: %w", err)
	}
}

// Summary counts the labels of many reviews; a review that fails to classify
// is counted under "error".
func (c *Classifier) Summary(ctx context.Context, reviews []string) (map[string]int, error) {
	counts := map[string]int{}
	for _, r := range reviews {
		v, err := c.Classify(ctx, r)
		switch {
		case errors.Is(err, ErrUnavailable), ctx.Err() != nil:
			return counts, err
		case err != nil:
			counts["error"]++
		default:
			counts[v.Label]++
		}
	}
	return counts, nil
}

// Lexicon is the tool Python's explain asks about each word: the Go
// program's own knowledge, called back from Python during the call.
type Lexicon func(word string) (polarity string, err error)

// Explain streams one token per word of text ("word:polarity") as Python
// makes them, asking lexicon about each word. py must stream
// (pyharness.Streamer: realpy's Pool, Worker, Client, or mockpy).
func (c *Classifier) Explain(ctx context.Context, text string, lexicon Lexicon) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		s, ok := c.py.(pyharness.Streamer)
		if !ok {
			yield("", fmt.Errorf("sentiment: explain: %T does not stream", c.py))
			return
		}
		ctx = wire.WithCallbacks(ctx, map[string]wire.Callback{
			"lexicon": wire.CallbackFunc(func(_ context.Context, word string) (string, error) { return lexicon(word) }),
		})
		for token, err := range wire.Items[string](s.Stream(ctx, "explain", map[string]string{"text": text})) {
			if err != nil {
				err = fmt.Errorf("sentiment: explain: %w", err)
			}
			if !yield(token, err) || err != nil {
				return
			}
		}
	}
}
