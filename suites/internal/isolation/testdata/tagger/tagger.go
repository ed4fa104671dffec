// Package tagger stands for a user's production code between a spec and
// the mock: the failures of the calls it makes must read at the spec's line.
package tagger

import (
	"context"

	"github.com/pyharness/pyharness"
)

// Tag asks py to tag text.
func Tag(ctx context.Context, py pyharness.Caller, text string) error {
	return py.Call(ctx, "tag", map[string]any{"text": text}, nil)
}
