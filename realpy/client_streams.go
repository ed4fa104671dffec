// Client: streams: windowed items, leaving a stream early.

package realpy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/pyharness/pyharness/wire"
)

// Stream calls method and yields the items its handler streams (a Python
// generator or async generator), as they arrive; a handler that returns a
// plain value yields it as one item. The worker sends at most the stream
// window (WithStreamWindow) ahead of what the loop has taken. Breaking out
// of the loop cancels the stream: the worker closes the generator (its
// finally blocks run) before the loop ends. An error (a Python exception
// mid-stream, a crash, the context's end) is yielded once, last. The
// handler may call Go functions (WithCallback) while it streams.
func (c *Client) Stream(ctx context.Context, method string, args any) iter.Seq2[json.RawMessage, error] {
	return func(yield func(json.RawMessage, error) bool) {
		stopped := false
		guarded := func(item json.RawMessage, err error) bool {
			if stopped {
				return false
			}
			if !yield(item, err) {
				stopped = true
			}
			return !stopped
		}
		start := time.Now()
		if err := c.stream(ctx, method, args, guarded); err != nil && !stopped {
			if ce := newCallError(ctx, method, c.label, start, err); ce != nil {
				yield(nil, ce)
				return
			}
			yield(nil, fmt.Errorf("realpy: %s: stream %q: %w", c.label, method, err))
		}
	}
}

func (c *Client) stream(ctx context.Context, method string, args any, yield func(json.RawMessage, error) bool) error {
	if c.Err() == nil && !c.closed.Load() && (c.pipelined || !c.hello.Supports("stream")) {
		return fmt.Errorf("%w (its features: %v)", wire.ErrStreamUnsupported, c.hello.Features)
	}
	req, frame, err := c.prepare(ctx, method, args, c.window)
	if err != nil {
		return err
	}
	defer releaseFrame(frame)
	if c.mux {
		return c.streamMux(ctx, req, frame, yield)
	}
	if err := c.acquire(ctx); err != nil {
		return err
	}
	ended := false
	defer func() {
		if !ended { // the loop's body panicked or called runtime.Goexit: the generator is mid-stream
			c.abandonStream(req)
		}
		c.release()
	}()
	err = c.streamItems(ctx, req, frame, yield)
	ended = true
	return err
}

// abandonStream ends a stream whose loop body panicked (a failed assertion
// recovered by the test framework) or called runtime.Goexit: the worker is
// sent $cancel and settles in the background (its generator's finally runs)
// before anyone is served; one that cannot cancel, or does not end within
// the cancel grace, is abandoned, never handed out mid-stream.
func (c *Client) abandonStream(req wire.Request) {
	const why = "the loop over its stream panicked or called runtime.Goexit mid-stream"
	if c.Err() != nil {
		return
	}
	if !c.hello.Supports("cancel") {
		c.breakWith(&cancelledCall{method: req.Method, err: errors.New(why + ", and the worker cannot cancel a stream")})
		return
	}
	c.settleLater(&settleJob{id: req.ID, method: req.Method, why: why})
}

// streamItems writes a stream's request and yields its items until its
// final reply; the caller holds the slot.
func (c *Client) streamItems(ctx context.Context, req wire.Request, frame []byte, yield func(json.RawMessage, error) bool) error {
	method := req.Method
	if err := c.write(ctx, frame); err != nil {
		return c.failWrite(ctx, method, err)
	}
	taken := 0
	for {
		resp, err := c.readOne(ctx, wire.DecodeResponse)
		if err != nil {
			return c.failRead(ctx, req, err)
		}
		switch {
		case resp.ID != req.ID:
			if err := c.dispatch(resp); err != nil {
				return c.fail(ctx, method, err)
			}
		case resp.Callback != nil:
			if err := c.answerCallback(ctx, req.ID, resp.Callback); err != nil {
				return c.failRead(ctx, req, err)
			}
		case resp.Item != nil:
			if !yield(resp.Item, nil) {
				return c.stopStream(ctx, req)
			}
			if taken++; taken >= max(1, c.window/2) {
				if err := c.control(ctx, req.ID, wire.ControlCredit, taken); err != nil {
					return c.failRead(ctx, req, err)
				}
				taken = 0
			}
		default:
			return decodeReply(resp, nil)
		}
	}
}

// stopStream cancels a stream its consumer left, and waits (within the
// cancel grace, and ctx) for the worker to close the generator.
func (c *Client) stopStream(ctx context.Context, req wire.Request) error {
	grace, cancel := context.WithTimeout(ctx, c.cancelGrace)
	defer cancel()
	if err := drainCancelled(grace, c, req.ID); err != nil {
		c.breakWith(&cancelledCall{method: req.Method, err: fmt.Errorf("the stream was left, and it did not end within %v of $cancel: %v", c.cancelGrace, err)})
	}
	return nil
}
