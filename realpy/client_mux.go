// Client: multiplexed calls: many requests in flight on one connection,
// answered in any order (PROTOCOL.md, Concurrency), read by one goroutine.
// It depends on the frames (client_frames.go), callbacks and cancellation's
// control frames; calls (client_calls.go) and streams call into it.

package realpy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/pyharness/pyharness/wire"
)

// multiplex switches a client that has just been handshaken to multiplexed
// calls, when limit > 1 and the peer lists "multiplex": up to min(limit,
// the peer's concurrency) calls in flight, their frames read by a goroutine
// and routed to each call by id. Nothing else may use the client yet.
// A peer that does not multiplex keeps the one-at-a-time rule.
func (c *Client) multiplex(limit int) {
	if limit <= 1 || c.pipelined || !c.hello.Supports("multiplex") || c.Err() != nil {
		return
	}
	if c.hello.Concurrency > 0 {
		limit = min(limit, c.hello.Concurrency)
	}
	if limit <= 1 {
		return
	}
	c.inflight = make(chan struct{}, limit)
	c.readerDone = make(chan struct{})
	c.mux = true
	go c.readAll(c.route)
}

// Capacity returns how many calls the client keeps in flight at once: 1,
// or the limit of WithConcurrency when the peer multiplexes.
func (c *Client) Capacity() int {
	if c.mux {
		return cap(c.inflight)
	}
	return 1
}

// inFlight returns how many calls are in flight now on a multiplexed
// client, counting cancelled ones the worker has not ended yet (0 for a
// one-at-a-time client).
func (c *Client) inFlight() int {
	if c.mux {
		return len(c.inflight)
	}
	return 0
}

// route hands a frame to the call of its id: items and callbacks keep the
// call in the table, its final reply takes it out. A frame for an id given
// up on (a probe) is dropped; one for an id nobody sent, or more frames
// than a call may have outstanding, is a protocol violation.
func (c *Client) route(resp *wire.Response) error {
	final := resp.Callback == nil && resp.Item == nil
	c.mu.Lock()
	ch, ok := c.pending[resp.ID]
	if ok && final {
		delete(c.pending, resp.ID)
	}
	late := c.ignored[resp.ID]
	if late && final {
		delete(c.ignored, resp.ID)
	}
	c.mu.Unlock()
	switch {
	case ok:
		select {
		case ch <- resp:
		default:
			return &wire.ProtocolError{Reason: fmt.Sprintf("call %d was sent more frames than its stream window (%d) allows", resp.ID, c.window)}
		}
	case !late:
		return &wire.ProtocolError{Reason: fmt.Sprintf("reply to id %d, which no request in flight carried", resp.ID)}
	}
	return nil
}

// acquireMux takes one of the in-flight places.
func (c *Client) acquireMux(ctx context.Context) error {
	select {
	case c.inflight <- struct{}{}:
		return nil
	default:
	}
	select {
	case c.inflight <- struct{}{}:
		return nil
	case <-ctx.Done():
		return &stagedErr{err: ctx.Err(), stage: fmt.Sprintf("waiting for its turn: the worker had its %d calls in flight (WithConcurrency)", cap(c.inflight))}
	case <-c.dead:
		return c.deadErr
	}
}

func (c *Client) releaseMux() { <-c.inflight }

// sendMux takes a place, registers req and writes frame; on success the
// caller owns the place and the registration (ended by endMux or settleMux).
func (c *Client) sendMux(ctx context.Context, req wire.Request, frame []byte) (<-chan *wire.Response, error) {
	if err := c.acquireMux(ctx); err != nil {
		return nil, err
	}
	frames := make(chan *wire.Response, c.window+2) // a window of items, a callback, the reply
	c.mu.Lock()
	c.pending[req.ID] = frames
	c.mu.Unlock()
	if err := c.write(ctx, frame); err != nil {
		c.unregister(req.ID)
		c.releaseMux()
		var unsent *interruptedWrite
		if errors.As(err, &unsent) {
			return nil, &stagedErr{err: ctx.Err(), stage: "before its request was sent: the worker never saw it"}
		}
		c.breakWith(err) // a frame cut in the middle, or a broken connection
		<-c.dead
		if ctx.Err() != nil {
			return nil, &stagedErr{err: ctx.Err(), stage: "while its request was sent: the write was cut, and the worker was abandoned"}
		}
		return nil, c.deadErr
	}
	return frames, nil
}

func (c *Client) callMux(ctx context.Context, req wire.Request, frame []byte, reply any) error {
	frames, err := c.sendMux(ctx, req, frame)
	if err != nil {
		return err
	}
	return c.awaitMux(ctx, req, frames, reply, nil)
}

// awaitMux waits for call req's frames: callbacks are answered, items
// yielded (a stream, yield != nil), until its final reply. The call's place
// is given up when it ends, or handed to settleMux when it is cancelled.
func (c *Client) awaitMux(ctx context.Context, req wire.Request, frames <-chan *wire.Response, reply any, yield func(json.RawMessage, error) bool) error {
	taken := 0
	for {
		select {
		case resp := <-frames:
			switch {
			case resp.Callback != nil:
				if err := c.answerCallback(ctx, req.ID, resp.Callback); err != nil {
					var interrupted *interruptedRead
					if ctx.Err() != nil && errors.As(err, &interrupted) {
						return c.cancelMux(ctx, req, frames, interrupted.during)
					}
					return c.failMux(ctx, req, err)
				}
			case resp.Item != nil:
				if yield == nil {
					return c.failMux(ctx, req, &wire.ProtocolError{Reason: fmt.Sprintf("an item for call %d, which is not a stream", req.ID)})
				}
				if !yield(resp.Item, nil) {
					return c.stopMux(ctx, req, frames)
				}
				if taken++; taken >= max(1, c.window/2) {
					if err := c.control(ctx, req.ID, wire.ControlCredit, taken); err != nil {
						if ctx.Err() != nil {
							return c.cancelMux(ctx, req, frames, "")
						}
						return c.failMux(ctx, req, err)
					}
					taken = 0
				}
			default:
				c.releaseMux()
				return decodeReply(resp, reply)
			}
		case <-ctx.Done():
			return c.cancelMux(ctx, req, frames, "")
		case <-c.dead:
			c.unregister(req.ID)
			c.releaseMux()
			for { // the reply may have arrived just before the break
				select {
				case resp := <-frames:
					if resp.Callback == nil && resp.Item == nil {
						return decodeReply(resp, reply)
					}
				default:
					return c.deadErr
				}
			}
		}
	}
}

// failMux breaks the connection for call req (a protocol violation, a
// broken write) and returns the error calls get.
func (c *Client) failMux(ctx context.Context, req wire.Request, err error) error {
	c.unregister(req.ID)
	c.releaseMux()
	c.breakWith(err)
	<-c.dead
	if ctx.Err() != nil {
		return &stagedErr{err: ctx.Err(), stage: "while the worker ran it: the connection broke: " + err.Error()}
	}
	return c.deadErr
}

// cancelMux ends a call whose context ended: a worker that supports
// cancellation is sent $cancel for that call only, the others in flight go
// on, and the call's place is kept until the worker ends it (settleMux);
// one that does not, or does not end it within the cancel grace, is
// abandoned. Returns the context's error at once.
func (c *Client) cancelMux(ctx context.Context, req wire.Request, frames <-chan *wire.Response, during string) error {
	if during == "" {
		during = "while the worker ran it"
	}
	if !c.hello.Supports("cancel") {
		c.unregister(req.ID)
		c.releaseMux()
		c.breakWith(&cancelledCall{method: req.Method, err: ctx.Err()})
		return &stagedErr{err: ctx.Err(), stage: during + ": the worker was abandoned (it cannot end the call cleanly)"}
	}
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		c.settleMux(req, frames, context.Canceled.Error())
	}()
	return &stagedErr{err: ctx.Err(), stage: fmt.Sprintf("%s: the worker was sent $cancel for this call (its other calls go on), and is kept if it ends the call within its cancel grace (%v)", during, c.cancelGrace)}
}

// stopMux cancels a stream its consumer left and waits, within the cancel
// grace, for the worker to close the generator.
func (c *Client) stopMux(ctx context.Context, req wire.Request, frames <-chan *wire.Response) error {
	c.settleMux(req, frames, "the stream was left")
	return nil
}

// settleMux sends $cancel for req and reads its frames until its final
// reply, within the cancel grace: items are dropped, callbacks answered
// with a cancellation. A call that does not end by then breaks the
// connection (its worker's state is unknown). The call's place is given up
// at the end.
func (c *Client) settleMux(req wire.Request, frames <-chan *wire.Response, why string) {
	defer c.releaseMux()
	ctx, cancel := context.WithTimeout(context.Background(), c.cancelGrace)
	defer cancel()
	err := c.control(ctx, req.ID, wire.ControlCancel, nil)
	for err == nil {
		select {
		case resp := <-frames:
			switch {
			case resp.Callback != nil:
				ret := wire.Return{Seq: resp.Callback.Seq, Error: &wire.ErrorObject{Kind: wire.KindCancelled, Type: wire.CancelledCallback, Message: "the call was cancelled by its Go caller"}}
				err = c.control(ctx, req.ID, wire.ControlReturn, ret)
			case resp.Item != nil:
			default:
				return
			}
		case <-ctx.Done():
			err = ctx.Err()
		case <-c.dead:
			c.unregister(req.ID)
			return
		}
	}
	c.unregister(req.ID)
	c.breakWith(&cancelledCall{method: req.Method, err: fmt.Errorf("%s, and it did not end within %v of $cancel: %v", why, c.cancelGrace, err)})
}

// streamMux is stream on a multiplexed client.
func (c *Client) streamMux(ctx context.Context, req wire.Request, frame []byte, yield func(json.RawMessage, error) bool) error {
	frames, err := c.sendMux(ctx, req, frame)
	if err != nil {
		return err
	}
	ended := false
	defer func() {
		if !ended { // the loop's body panicked or called runtime.Goexit mid-stream: the generator's finally runs before the panic goes on
			c.settleMux(req, frames, "the loop over its stream panicked or called runtime.Goexit mid-stream")
		}
	}()
	err = c.awaitMux(ctx, req, frames, nil, yield)
	ended = true
	return err
}

// probeMux pings a multiplexed worker: the ping goes out beside the calls in
// flight and the worker answers it at once.
func (c *Client) probeMux(ctx context.Context) error {
	req := wire.Request{ID: c.nextID.Add(1), Method: "ping"}
	replies := c.register(req.ID)
	frame, err := encodeFrame(req, c.maxFrame)
	if err == nil {
		err = c.write(ctx, frame)
	}
	if err != nil {
		c.abandon(req.ID)
		var unsent *interruptedWrite
		if errors.As(err, &unsent) {
			return ctx.Err()
		}
		c.breakWith(err)
		<-c.dead
		return c.deadErr
	}
	return c.awaitReply(ctx, req.ID, replies, nil)
}
