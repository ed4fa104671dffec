// Client: pipelining: a call written behind the slot holder's, so that a
// worker serving one call at a time finds its next request already there
// (WithPipelining; PROTOCOL.md, Pipelining).

package realpy

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/pyharness/pyharness/wire"
)

// behindCall is a call whose request was written while another call held
// the slot: the holder's release hands it the slot (handOn), and it reads
// its own reply as any holder does.
type behindCall struct {
	ready     chan struct{} // receives a token once it holds the slot (buffered: handOn never waits)
	handed    bool          // under mu: it holds the slot
	cancelled bool          // under mu: its context ended before it held the slot; $cancel was sent
	written   bool          // under mu: its request is out (the worker answers it after the holder's)
	id        uint64
	method    string
}

// behinds recycles behindCalls: a pipelined call in steady state
// allocates nothing. One cancelled behind is left to handOn, never reused.
var behinds = sync.Pool{New: func() any { return &behindCall{ready: make(chan struct{}, 1)} }}

// recycle puts back b, which nothing refers to any more.
func (b *behindCall) recycle() {
	select {
	case <-b.ready: // a token nobody took (handed as the connection broke)
	default:
	}
	*b = behindCall{ready: b.ready}
	behinds.Put(b)
}

// behindMark is the envelope member of a request written behind another
// call: the worker looks for the request's $cancel before it starts it.
const behindMark = `,"behind":true}`

// featurePipeline is the ping feature of a worker that serves requests
// written behind a running call in turn, answering one whose $cancel came
// before it started cancelled without running it.
const featurePipeline = "pipeline"

// pipeline makes the client write a plain call behind the holder's plain
// call when the peer serves requests so (its ping lists "pipeline") and
// serves one call at a time; it reports whether it does.
func (c *Client) pipeline() bool {
	c.pipelining = !c.mux && !c.pipelined && c.hello.Supports(featurePipeline)
	return c.pipelining
}

// written notes that the holder's plain request is out: a call written
// from now on is answered after it.
func (c *Client) written() {
	c.mu.Lock()
	c.plainHold = true
	c.mu.Unlock()
}

// reserveBehind takes the place behind the slot holder for a call whose
// request is frame: only behind a plain call, one call at a time, never
// while a cancelled call settles, and only for a plain (not segmented)
// frame that still fits the limit once marked. nil: acquire the slot.
func (c *Client) reserveBehind(frame []byte) *behindCall {
	if len(frame) <= wire.HeaderSize || frame[wire.HeaderSize] == 0 || len(frame)-wire.HeaderSize+len(behindMark)-1 > c.maxFrame {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.holding || !c.plainHold || c.behind != nil || c.toSettle != nil || c.settling != nil || c.Err() != nil {
		return nil
	}
	b := behinds.Get().(*behindCall)
	c.behind = b
	return b
}

// markBehind adds behindMark to the envelope of a plain request frame.
func markBehind(frame []byte) []byte {
	frame = append(frame[:len(frame)-1], behindMark...) // as AppendRequestArgs ends a request with Behind
	binary.BigEndian.PutUint32(frame, uint32(len(frame)-wire.HeaderSize))
	return frame
}

// callBehind writes req's frame behind the holder's call and, once handed
// the slot, reads its reply. A context that ends before then sends $cancel
// and returns at once: the worker answers the call cancelled without
// running it (or, had it started, ends it within the cancel grace) and
// serves nothing else meanwhile.
func (c *Client) callBehind(ctx context.Context, req wire.Request, b *behindCall, frame []byte, reply any) error {
	b.id, b.method = req.ID, req.Method
	if err := c.write(ctx, frame); err != nil {
		handed := c.withdraw(b)
		err = c.failWrite(ctx, req.Method, err)
		if handed {
			c.release()
		}
		b.recycle()
		return err
	}
	c.mu.Lock()
	b.written = true
	if b.handed { // it holds the slot already: a call may go behind it now
		c.plainHold = true
	}
	c.mu.Unlock()
	select {
	case <-b.ready:
	case <-c.dead:
		if c.withdraw(b) {
			c.release()
		}
		b.recycle()
		return c.deadErr
	case <-ctx.Done():
		if c.cancelBehind(b) {
			return &stagedErr{err: ctx.Err(), stage: fmt.Sprintf("waiting for its turn behind another call, its request already sent (pipelined): the worker was sent $cancel, answers the call cancelled if it has not started it, and is kept if it ends the call within its cancel grace (%v)", c.cancelGrace)}
		}
		// Handed the slot meanwhile: it ends as a holder whose context ended.
	}
	defer b.recycle() // after release: handOn no longer refers to it
	defer c.release()
	armed := c.arm(ctx)
	if armed {
		defer c.disarm()
	}
	return c.readReply(ctx, req, reply, armed)
}

// withdraw takes b out of the place behind; true when it was handed the
// slot first (its caller then releases it).
func (c *Client) withdraw(b *behindCall) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.behind == b {
		c.behind = nil
	}
	return b.handed
}

// cancelBehind marks b cancelled and sends its $cancel, so that the
// holder's release settles it (and a pool waits for that); false when b
// holds the slot already.
func (c *Client) cancelBehind(b *behindCall) bool {
	c.mu.Lock()
	if b.handed {
		c.mu.Unlock()
		return false
	}
	b.cancelled = true
	if c.settling == nil {
		c.settling = make(chan struct{})
	}
	c.settleOf = b.method
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), c.cancelGrace)
	defer cancel()
	if err := c.control(ctx, b.id, wire.ControlCancel, nil); err != nil {
		c.breakWith(&cancelledCall{method: b.method, err: fmt.Errorf("its context ended while it waited behind another call, and its $cancel could not be sent: %w", err)})
	}
	return true
}
