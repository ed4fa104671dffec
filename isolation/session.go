package isolation

import (
	"context"

	"github.com/pyharness/pyharness/wire"
)

func withSession(ctx context.Context, id string) context.Context { return wire.WithSession(ctx, id) }
