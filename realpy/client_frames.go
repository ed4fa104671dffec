// Client: the frame reader and writer on the connection.

package realpy

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"time"

	"github.com/pyharness/pyharness/wire"
)

// readOne reads one reply, decoded by decode (wire.DecodeResponse, or
// wire.PeekResponse for a reader that decodes the result itself); an ending
// context interrupts a blocked read. The frame reader keeps a frame cut by
// the interruption, so the read can be resumed (by cancelled).
func (c *Client) readOne(ctx context.Context, decode func([]byte) (*wire.Response, error)) (*wire.Response, error) {
	payload, err := c.readFrame(ctx)
	if err != nil {
		return nil, err
	}
	return decode(payload)
}

// readFrame reads one frame's payload; see readOne.
func (c *Client) readFrame(ctx context.Context) ([]byte, error) { return c.readFrameArmed(ctx, false) }

// readFrameArmed is readFrame; armed: ctx is watched for the round trip
// (client_watch.go), so the read registers nothing of its own.
func (c *Client) readFrameArmed(ctx context.Context, armed bool) ([]byte, error) {
	if armed {
		payload, err := c.fr.Next()
		if err != nil && c.watchFired() {
			return nil, &interruptedRead{err: ctx.Err()} // disarm clears the deadline
		}
		return payload, err
	}
	if ctx.Done() == nil {
		return c.fr.Next()
	}
	stop := context.AfterFunc(ctx, c.onReadCancel)
	payload, err := c.fr.Next()
	if !stop() {
		<-c.interrupted                         // the deadline is set: now it can be cleared
		_ = c.conn.SetReadDeadline(time.Time{}) // whoever reads next starts afresh
		if err != nil {
			return nil, &interruptedRead{err: ctx.Err()}
		}
	}
	return payload, err
}

// interruptRead makes the slot holder's blocked read return (a context
// ended), then says so on c.interrupted.
func (c *Client) interruptRead() {
	_ = c.conn.SetReadDeadline(time.Unix(1, 0))
	c.interrupted <- struct{}{}
}

// interruptWrite makes the writer's blocked write return (a context
// ended), then says so on c.writeInterrupted.
func (c *Client) interruptWrite() {
	_ = c.conn.SetWriteDeadline(time.Unix(1, 0))
	c.writeInterrupted <- struct{}{}
}

// interruptedRead is a read that the end of a context interrupted: the
// connection is intact, and the frame reader resumes where it stopped.
type interruptedRead struct {
	err    error
	during string // where the call was, when not in a plain read ("while ...")
}

// write sends one frame; an ending context interrupts a blocked write.
func (c *Client) write(ctx context.Context, frame []byte) error {
	return c.writeArmed(ctx, frame, false)
}

// writeArmed is write; armed: ctx is watched for the round trip
// (client_watch.go), so the write registers nothing of its own.
func (c *Client) writeArmed(ctx context.Context, frame []byte, armed bool) error {
	select {
	case <-c.dead:
		return c.deadErr
	default:
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if armed || ctx.Done() == nil { // the watch interrupts it, or nothing can
		oob := c.oob
		n, err := c.send(frame)
		if err == nil || !armed || !c.watchFired() {
			return err
		}
		return c.interruptedSend(ctx, frame, n, err, oob) // disarm clears the deadline
	}
	stop := context.AfterFunc(ctx, c.onWriteCancel)
	oob := c.oob
	n, err := c.send(frame)
	if stop() {
		return err
	}
	// The context ended during the write: clear the deadline it set, so
	// the connection stays usable when the frame went out whole or not at
	// all; only a frame cut in the middle breaks it.
	<-c.writeInterrupted
	_ = c.conn.SetWriteDeadline(time.Time{})
	return c.interruptedSend(ctx, frame, n, err, oob)
}

// interruptedSend is the outcome of a write that an ending context
// interrupted after n bytes of frame: sent whole, not at all (the
// ancillary data waits for the next write), or cut.
func (c *Client) interruptedSend(ctx context.Context, frame []byte, n int, err error, oob []byte) error {
	switch {
	case n == len(frame):
		return nil
	case n == 0:
		c.oob = oob
		return &interruptedWrite{err: ctx.Err()}
	}
	return fmt.Errorf("%w: the write was cut after %d of %d bytes: %v", ctx.Err(), n, len(frame), err)
}

// send writes frame, with the ancillary data waiting for the first write;
// the caller holds wmu.
func (c *Client) send(frame []byte) (int, error) {
	if uc, ok := c.conn.(*net.UnixConn); ok && c.oob != nil {
		oob := c.oob
		c.oob = nil
		n, _, err := uc.WriteMsgUnix(frame, oob, nil)
		return n, err
	}
	return c.conn.Write(frame)
}

// interruptedWrite is a write that the end of a context stopped before it
// sent anything: the connection is intact.
type interruptedWrite struct{ err error }

func (e *interruptedRead) Error() string { return "read interrupted: " + e.err.Error() }
func (e *interruptedRead) Unwrap() error { return e.err }

func (e *interruptedWrite) Error() string { return "write interrupted: " + e.err.Error() }
func (e *interruptedWrite) Unwrap() error { return e.err }

// control sends a control frame for call id.
func (c *Client) control(ctx context.Context, id uint64, method string, args any) error {
	frame, err := wire.AppendControl(make([]byte, wire.HeaderSize, 64), id, method, args)
	if err != nil {
		return err
	}
	size := len(frame) - wire.HeaderSize
	if size > c.maxFrame { // the same limit as calls: the worker would die of it
		return &wire.FrameTooLargeError{Size: uint64(size), Max: c.maxFrame, Direction: wire.Send}
	}
	binary.BigEndian.PutUint32(frame, uint32(size))
	return c.write(ctx, frame)
}

// closeWrite half-closes the connection so the worker reads EOF.
func (c *Client) closeWrite() {
	if cw, ok := c.conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		return
	}
	_ = c.conn.Close()
}

// read delivers replies to their callers until the connection breaks (for a
// pipelined client only).
func (c *Client) read() { c.readAll(c.dispatch) }

// readAll hands every frame read to deliver until the connection breaks
// (a reader goroutine: a pipelined client's, or a multiplexed one's).
func (c *Client) readAll(deliver func(*wire.Response) error) {
	defer close(c.readerDone)
	for {
		payload, err := wire.ReadFrame(c.br, c.maxFrame)
		var resp *wire.Response
		if err == nil {
			resp, err = wire.DecodeResponse(payload)
		}
		if err == nil {
			err = deliver(resp)
		}
		if err != nil {
			c.breakWith(err)
			return
		}
	}
}
