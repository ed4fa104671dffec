// Client: notifications and liveness probes.

package realpy

import (
	"context"
	"runtime"
	"time"

	"github.com/pyharness/pyharness/wire"
)

// probeDrainTimeout bounds how long a finished call waits for the reply of a
// probe pipelined behind it: an idle worker answers a ping at once.
const probeDrainTimeout = 10 * time.Second

// notify sends method without waiting for the reply and without waiting for
// the in-flight slot; it gives up at once if another write is in progress.
func (c *Client) notify(method string, timeout time.Duration) bool {
	req := wire.Request{ID: c.nextID.Add(1), Method: method}
	payload, err := wire.EncodeRequest(req)
	if err != nil {
		return false
	}
	frame, err := wire.AppendFrame(nil, payload, c.maxFrame)
	if err != nil || !c.wmu.TryLock() {
		return false
	}
	defer c.wmu.Unlock()
	c.mu.Lock()
	c.ignored[req.ID] = true // so the reply is not taken for an unknown id
	c.mu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(timeout))
	_, err = c.conn.Write(frame)
	_ = c.conn.SetWriteDeadline(time.Time{})
	return err == nil
}

// probe checks that the worker serves requests, waiting until ctx ends. An
// idle worker gets an ordinary ping. Behind a call in flight, the ping is
// pipelined: the worker answers it after the call, and the caller reads that
// answer for the probe. A worker stuck in a handler does not answer; a probe
// that gives up behind a call leaves the worker and the call untouched (its
// late reply is dropped).
func (c *Client) probe(ctx context.Context) error {
	if c.mux {
		return c.probeMux(ctx)
	}
	for {
		if err := c.Err(); err != nil {
			return err
		}
		select {
		case c.slot <- struct{}{}:
			return c.idleProbe(ctx)
		default:
		}
		c.mu.Lock()
		if !c.holding { // the slot is changing hands; try again
			c.mu.Unlock()
			runtime.Gosched()
			continue
		}
		req := wire.Request{ID: c.nextID.Add(1), Method: "ping"}
		replies := make(chan *wire.Response, 1)
		c.pending[req.ID] = replies
		c.mu.Unlock()
		frame, err := encodeFrame(req, c.maxFrame)
		if err == nil {
			err = c.write(ctx, frame)
		}
		if err != nil {
			c.abandon(req.ID)
			return c.fail(ctx, "ping (probe)", err)
		}
		return c.awaitReply(ctx, req.ID, replies, nil)
	}
}

// idleProbe pings a worker no call is using; the caller holds the slot. The
// reply is read on a goroutine that keeps the slot until it comes (or the
// connection breaks), so a probe that gives up leaves the stream intact and
// the miss counts like any other: no read is ever cut short mid-frame.
func (c *Client) idleProbe(ctx context.Context) error {
	c.mu.Lock()
	c.holding = true
	c.mu.Unlock()
	req := wire.Request{ID: c.nextID.Add(1), Method: "ping"}
	frame, err := encodeFrame(req, c.maxFrame)
	if err == nil {
		err = c.write(ctx, frame)
	}
	if err != nil {
		err = c.fail(ctx, "ping (probe)", err)
		c.release()
		return err
	}
	result := make(chan error, 1)
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		defer c.release()
		for {
			resp, err := c.readOne(context.Background(), wire.DecodeResponse)
			if err != nil {
				result <- c.fail(context.Background(), "ping (probe)", err)
				return
			}
			if resp.ID == req.ID {
				result <- decodeReply(resp, nil)
				return
			}
			if err := c.dispatch(resp); err != nil {
				result <- c.fail(context.Background(), "ping (probe)", err)
				return
			}
		}
	}()
	select {
	case err := <-result:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
