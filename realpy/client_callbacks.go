// Client: answering a worker's callback.

package realpy

import (
	"context"
	"errors"
	"fmt"

	"github.com/pyharness/pyharness/wire"
)

// answerCallback runs the Go function a handler called and sends its
// answer; a function that panics, calls runtime.Goexit, or returns what
// cannot be encoded or does not fit a frame is answered with a GoError of
// that kind. The call's context bounds the wait: a function that blocks
// past it (ignoring its context) is left running, and the call ends as a
// cancelled one (the handler's call_go raises Cancelled); so does the end of
// the connection.
func (c *Client) answerCallback(ctx context.Context, id uint64, frame *wire.CallbackFrame) error {
	var ret wire.Return
	select {
	case ret = <-wire.StartCallback(ctx, c.callbacks, frame):
	case <-ctx.Done():
		return &interruptedRead{err: ctx.Err(), during: fmt.Sprintf("while the Go function %q it called ran", frame.Name)}
	case <-c.dead:
		return c.deadErr
	}
	if ret.OK && len(ret.Result) > c.maxFrame { // not worth building the frame
		ret = wire.TooLargeReturn(frame, len(ret.Result), c.maxFrame)
	}
	err := c.control(ctx, id, wire.ControlReturn, ret)
	var tooLarge *wire.FrameTooLargeError
	if errors.As(err, &tooLarge) && ret.OK {
		return c.control(ctx, id, wire.ControlReturn, wire.TooLargeReturn(frame, int(tooLarge.Size), c.maxFrame))
	}
	return err
}
