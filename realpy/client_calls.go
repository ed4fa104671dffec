// Client: calls: preparing, sending and settling one call, pipelined or not.

package realpy

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pyharness/pyharness/internal/ownership"
	"github.com/pyharness/pyharness/wire"
)

// Call sends method with args and decodes the result into reply (which may be
// nil). Errors are typed (see package wire): *wire.PythonError for what the
// worker answered, *wire.WorkerExitedError, *wire.ProtocolError,
// *wire.FrameTooLargeError, *wire.EncodeError, *wire.DecodeError, or, when
// its context ends, a *CallError naming the method, the worker, the
// deadline and where the call was (errors.Is(err, context.DeadlineExceeded)
// or context.Canceled holds). A call whose context ends while the worker executes it
// returns at once. A worker that supports cancellation is then sent $cancel
// (a stream's generator is closed, an async handler's task cancelled) and
// kept if it ends the call within the cancel grace (WithCancelGrace);
// otherwise, or for a worker that does not, the connection is abandoned,
// since the worker's state is unknown. The handler may call the Go
// functions of WithCallback and wire.WithCallbacks meanwhile.
func (c *Client) Call(ctx context.Context, method string, args, reply any) error {
	defer ownership.BeginCall(c.hello.WorkerID, c.hello.Pid, method).End() // a call in flight at a test's end is its leak
	start := time.Now()
	if err := c.call(ctx, method, args, reply); err != nil {
		if ce := newCallError(ctx, method, c.label, start, err); ce != nil {
			return ce
		}
		return fmt.Errorf("realpy: %s: call %q: %w", c.label, method, err)
	}
	return nil
}

func (c *Client) call(ctx context.Context, method string, args, reply any) error {
	req, frame, err := c.prepare(ctx, method, args, 0)
	if err != nil {
		return err
	}
	if c.mux {
		defer releaseFrame(frame)
		return c.callMux(ctx, req, frame, reply)
	}
	if c.pipelined {
		defer releaseFrame(frame)
		return c.callPipelined(ctx, req, frame, reply)
	}
	if c.pipelining {
		if b := c.reserveBehind(frame); b != nil { // client_pipeline.go
			frame = markBehind(frame)
			defer releaseFrame(frame)
			return c.callBehind(ctx, req, b, frame, reply)
		}
	}
	defer releaseFrame(frame)
	if err := c.acquire(ctx); err != nil {
		return err
	}
	defer c.release()
	return c.roundTrip(ctx, req, frame, reply)
}

// prepare checks that a call can be made and encodes its request (a stream
// of window items ahead when window > 0).
func (c *Client) prepare(ctx context.Context, method string, args any, window int) (wire.Request, []byte, error) {
	if err := c.Err(); err != nil {
		return wire.Request{}, nil, err // what broke the connection, whoever closed it afterwards
	}
	if c.closed.Load() {
		return wire.Request{}, nil, wire.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return wire.Request{}, nil, &stagedErr{err: err, stage: "before it was sent: its context had already ended"}
	}
	req := wire.Request{ID: c.nextID.Add(1), Method: method, Session: wire.SessionFrom(ctx), Stream: window}
	if deadline, ok := ctx.Deadline(); ok {
		req.DeadlineMS = deadline.UnixMilli()
	}
	frame, err := encodeFrameArgs(req, args, c.maxFrame, c.segmentMin)
	return req, frame, err
}

// acquire takes the slot: the caller reads the replies until it releases it.
func (c *Client) acquire(ctx context.Context) error {
	select {
	case c.slot <- struct{}{}:
	case <-ctx.Done():
		c.mu.Lock()
		stage := "waiting for its turn: the worker was serving another call"
		if c.settling != nil {
			stage = fmt.Sprintf("waiting for its turn: the worker was ending a cancelled call %q within its cancel grace (%v)", c.settleOf, c.cancelGrace)
		}
		c.mu.Unlock()
		return &stagedErr{err: ctx.Err(), stage: stage}
	case <-c.dead:
		return c.deadErr
	}
	c.mu.Lock()
	c.holding, c.plainHold = true, false
	c.mu.Unlock()
	return nil
}

// roundTrip writes frame and reads replies until req's arrives; the caller
// holds the slot.
func (c *Client) roundTrip(ctx context.Context, req wire.Request, frame []byte, reply any) error {
	armed := c.arm(ctx) // one watch on ctx for the write and every read (client_watch.go)
	if armed {
		defer c.disarm()
	}
	if err := c.writeArmed(ctx, frame, armed); err != nil {
		return c.failWrite(ctx, req.Method, err)
	}
	if c.pipelining {
		c.written() // client_pipeline.go: a call may be written behind this one now
	}
	return c.readReply(ctx, req, reply, armed)
}

// readReply reads frames until req's reply arrives, answering its
// callbacks and handing other ids' replies to their callers; the caller
// holds the slot, and armed says whether ctx is watched (arm).
func (c *Client) readReply(ctx context.Context, req wire.Request, reply any, armed bool) error {
	for {
		payload, err := c.readFrameArmed(ctx, armed)
		if err != nil {
			return c.failRead(ctx, req, err)
		}
		// The slot holder's own reply is decoded into c.own and its buffer
		// recycled: a round trip in steady state allocates nothing. A frame
		// for another id is copied out to its reader.
		resp := &c.own
		if err := wire.PeekResponseInto(payload, resp); err != nil {
			return c.fail(ctx, req.Method, err)
		}
		if resp.ID == req.ID && resp.Callback != nil {
			if err := c.answerCallback(ctx, req.ID, resp.Callback); err != nil {
				return c.failRead(ctx, req, err)
			}
			continue
		}
		if resp.ID == req.ID && resp.Item != nil {
			return c.fail(ctx, req.Method, &wire.ProtocolError{Reason: fmt.Sprintf("an item for call %d, which is not a stream", req.ID)})
		}
		if resp.ID == req.ID {
			// The result is scanned once, while it is decoded; a malformed
			// reply breaks the connection as it would have at the read.
			err := decodeReply(resp, reply)
			*resp = wire.Response{}
			if errors.Is(err, wire.ErrProtocol) {
				return c.fail(ctx, req.Method, err)
			}
			c.fr.Recycle(payload) // nothing decoded from it aliases it
			return err
		}
		other := *resp
		*resp = wire.Response{}
		if err := other.Check(); err != nil {
			return c.fail(ctx, req.Method, err)
		}
		if err := c.dispatch(&other); err != nil {
			return c.fail(ctx, req.Method, err)
		}
	}
}

// failWrite is fail for the write of a call's request: a context that
// ended before any of it went out leaves the worker as it was.
func (c *Client) failWrite(ctx context.Context, method string, err error) error {
	var unsent *interruptedWrite
	if errors.As(err, &unsent) {
		return &stagedErr{err: ctx.Err(), stage: "before its request was sent: the worker never saw it"}
	}
	return c.fail(ctx, method, err)
}

// failRead is fail for a read of call req's replies: a context that ended
// there may leave the worker to finish the call cleanly (cancelled).
func (c *Client) failRead(ctx context.Context, req wire.Request, err error) error {
	if ctx.Err() != nil {
		return c.cancelled(ctx, req.ID, req.Method, err)
	}
	return c.fail(ctx, req.Method, err)
}

// fail breaks the connection after a failed write or read and returns the
// error the call gets: the context's when it ended, else the break's.
func (c *Client) fail(ctx context.Context, method string, err error) error {
	if ctx.Err() != nil {
		return c.cancelled(ctx, 0, method, err)
	}
	select {
	case <-c.dead: // broken meanwhile (closed, or the process exited): that is the cause
	default:
		c.breakWith(err)
	}
	<-c.dead
	return c.deadErr
}

// release gives up the slot, first reading the replies of probes that were
// pipelined behind the holder's call (the worker answers them at once), or
// passes it to the call written behind the holder's (client_pipeline.go).
// A cancelled call being settled in the background (the holder's, or one
// whose context ended while it waited behind) first owns the slot: a
// goroutine settles it, then hands the slot on.
func (c *Client) release() {
	job := c.handOn()
	if job == nil {
		return
	}
	c.bg.Add(1)
	go c.settleAll(job)
}

// settleAll settles job, then whatever handOn leaves to settle next,
// until the slot is given up or passed on.
func (c *Client) settleAll(job *settleJob) {
	defer c.bg.Done()
	for job != nil {
		c.settle(job) // client_cancel.go: the call ends, or the connection breaks
		job = c.handOn()
	}
}

// handOn gives up the slot or passes it to the live call behind, closing
// the settling channel (a pool hands the worker out again); or, while a
// cancelled call is left to settle, keeps the slot and returns it.
func (c *Client) handOn() *settleJob {
	for {
		c.mu.Lock()
		if job := c.toSettle; job != nil {
			c.toSettle = nil
			c.mu.Unlock()
			return job
		}
		b := c.behind
		if b != nil && b.cancelled {
			c.behind = nil
			c.mu.Unlock()
			return &settleJob{id: b.id, method: b.method, why: "its context ended while it waited behind another call"}
		}
		broken := c.Err() != nil
		if !broken && b == nil && (len(c.pending) > 0 || len(c.ignored) > 0) {
			c.mu.Unlock()
			c.drainOne()
			continue
		}
		done := c.settling
		c.settling, c.settleOf = nil, ""
		if b != nil && !broken {
			c.behind = nil
			b.handed, c.plainHold = true, b.written // a call goes behind it once its own request is out
			b.ready <- struct{}{}                   // it reads what was pipelined before it, then its reply
		} else {
			c.behind = nil // a call behind a broken connection gets its error (c.dead)
			c.holding, c.plainHold = false, false
			<-c.slot
		}
		c.mu.Unlock()
		if done != nil {
			close(done)
		}
		return nil
	}
}

// drainOne reads one reply of a probe pipelined behind the finished call.
func (c *Client) drainOne() {
	ctx, cancel := context.WithTimeout(context.Background(), probeDrainTimeout)
	defer cancel()
	resp, err := c.readOne(ctx, wire.DecodeResponse)
	if err == nil {
		err = c.dispatch(resp)
	}
	if err != nil {
		_ = c.fail(ctx, "ping (probe)", err)
	}
}

func (c *Client) callPipelined(ctx context.Context, req wire.Request, frame []byte, reply any) error {
	replies := c.register(req.ID)
	defer c.unregister(req.ID)
	if err := c.write(ctx, frame); err != nil {
		return c.failWrite(ctx, req.Method, err)
	}
	return c.awaitReply(ctx, req.ID, replies, reply)
}

// awaitReply waits for the reply that a reader goroutine (or the slot
// holder) delivers on replies; if ctx ends first it abandons the id, so a
// late reply is dropped and the connection stays intact.
func (c *Client) awaitReply(ctx context.Context, id uint64, replies <-chan *wire.Response, reply any) error {
	select {
	case resp := <-replies:
		return decodeReply(resp, reply)
	case <-ctx.Done():
		c.abandon(id)
		return ctx.Err()
	case <-c.dead:
		select { // the reply may have arrived just before the break
		case resp := <-replies:
			return decodeReply(resp, reply)
		default:
			return c.deadErr
		}
	}
}

// frameBuffers recycles the buffers of small request frames: a call in
// steady state allocates none (releaseFrame gives one back once written).
var frameBuffers = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledFrame is the largest frame buffer kept for reuse.
const maxPooledFrame = 16 << 10

// encodeFrameArgs encodes req with args marshaled straight into a frame
// (header, then envelope) in a recycled buffer; releaseFrame gives it back.
// With segmentMin > 0 (the worker reads segmented frames) large strings
// and []byte in args travel as segments (wire.AppendRequestFrame).
func encodeFrameArgs(req wire.Request, args any, maxFrame, segmentMin int) ([]byte, error) {
	buf := frameBuffers.Get().(*[]byte)
	frame, err := wire.AppendRequestFrame((*buf)[:0], req, args, segmentMin)
	if err != nil {
		frameBuffers.Put(buf)
		return nil, err
	}
	size := len(frame) - wire.HeaderSize
	if size > maxFrame {
		*buf = frame
		frameBuffers.Put(buf)
		return nil, &wire.FrameTooLargeError{Size: uint64(size), Max: maxFrame, Direction: wire.Send}
	}
	*buf = nil
	frameBuffers.Put(buf)
	return frame, nil
}

// releaseFrame gives back the buffer of a frame of encodeFrameArgs that has
// been written and is no longer used.
func releaseFrame(frame []byte) {
	if frame == nil || cap(frame) > maxPooledFrame {
		return
	}
	buf := frameBuffers.Get().(*[]byte)
	*buf = frame[:0]
	frameBuffers.Put(buf)
}

// encodeFrame encodes req straight into a frame: header, then envelope.
func encodeFrame(req wire.Request, maxFrame int) ([]byte, error) {
	frame := make([]byte, wire.HeaderSize, wire.HeaderSize+64+len(req.Method)+len(req.Args))
	frame, err := wire.AppendRequest(frame, req)
	if err != nil {
		return nil, err
	}
	size := len(frame) - wire.HeaderSize
	if size > maxFrame {
		return nil, &wire.FrameTooLargeError{Size: uint64(size), Max: maxFrame, Direction: wire.Send}
	}
	binary.BigEndian.PutUint32(frame, uint32(size))
	return frame, nil
}

func decodeReply(resp *wire.Response, reply any) error {
	if !resp.OK {
		return wire.NewPythonError(resp.Error)
	}
	return resp.DecodeResult(reply)
}
