// Package wordcount counts words through a Python worker: the example of
// pyharness for a repository that tests with plain `go test`.
package wordcount

import (
	"context"
	"fmt"

	"github.com/pyharness/pyharness"
)

// Word is a word and how often it occurs.
type Word struct {
	Text  string `json:"text"`
	Count int    `json:"count"`
}

// Counter counts words with the Python handler module wordcount_handlers.
type Counter struct {
	py pyharness.Caller
}

// New returns a Counter that calls py (a realpy pool in production, a mock
// in unit tests).
func New(py pyharness.Caller) *Counter { return &Counter{py: py} }

// Count returns how often each lower-cased word of text occurs.
func (c *Counter) Count(ctx context.Context, text string) (map[string]int, error) {
	var counts map[string]int
	if err := c.py.Call(ctx, "count", map[string]string{"text": text}, &counts); err != nil {
		return nil, fmt.Errorf("wordcount: count: %w", err)
	}
	return counts, nil
}

// Top returns the n most frequent words of text, most frequent first.
func (c *Counter) Top(ctx context.Context, text string, n int) ([]Word, error) {
	var words []Word
	if err := c.py.Call(ctx, "top", map[string]any{"text": text, "n": n}, &words); err != nil {
		return nil, fmt.Errorf("wordcount: top: %w", err)
	}
	return words, nil
}
