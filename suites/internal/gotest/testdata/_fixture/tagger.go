package fixture

import (
	"context"

	"github.com/pyharness/pyharness"
)

// tag stands for the user's production code between a test and the mock.
func tag(ctx context.Context, py pyharness.Caller, text string) error {
	return py.Call(ctx, "tag", map[string]any{"text": text}, nil)
}
