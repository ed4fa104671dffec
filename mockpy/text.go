package mockpy

import (
	"context"

	"github.com/pyharness/pyharness/wire"
)

// checkText refuses a method or session that is not valid UTF-8, as a real
// worker's client does before sending (*wire.InvalidUTF8Error).
func checkText(ctx context.Context, method string) error {
	_, err := wire.EncodeRequest(wire.Request{Method: method, Session: wire.SessionFrom(ctx)})
	return err
}
