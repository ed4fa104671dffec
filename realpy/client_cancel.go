// Client: cancellation: $cancel, the cancel grace and settling a left call.
// It depends on the frames (client_frames.go) and the call table
// (client_table.go) through cancelLine, never on calls (client_calls.go),
// which call into it.

package realpy

import (
	"context"
	"errors"
	"fmt"

	"github.com/pyharness/pyharness/wire"
)

// cancelled ends a call whose context ended: with a worker that supports
// cancellation and a connection left intact (the context interrupted a
// read), a goroutine takes over the slot, sends $cancel and reads until the
// call's final reply, within the cancel grace; the worker is abandoned if it
// does not end the call by then. Returns the context's error at once.
func (c *Client) cancelled(ctx context.Context, id uint64, method string, err error) error {
	var interrupted *interruptedRead
	var unsent *interruptedWrite // a control frame of the call ($return, $credit) that did not go out
	if id == 0 || !errors.As(err, &interrupted) && !errors.As(err, &unsent) || !c.hello.Supports("cancel") || c.pipelined {
		c.breakWith(&cancelledCall{method: method, err: ctx.Err()})
		return &stagedErr{err: ctx.Err(), stage: "while the worker ran it: the worker was abandoned (it cannot end the call cleanly)"}
	}
	c.settleLater(&settleJob{id: id, method: method, why: context.Canceled.Error()})
	during := "while the worker ran it"
	if interrupted != nil && interrupted.during != "" {
		during = interrupted.during
	}
	return &stagedErr{err: ctx.Err(), stage: fmt.Sprintf("%s: the worker was sent $cancel, and is kept if it ends the call within its cancel grace (%v)", during, c.cancelGrace)}
}

// settleLater makes release hand job to settle, and callers (and a pool)
// wait for it: the worker serves nothing else until job's call has ended.
func (c *Client) settleLater(job *settleJob) {
	c.mu.Lock()
	if c.settling == nil { // else a call cancelled behind it is settling too: one channel for both
		c.settling = make(chan struct{})
	}
	c.toSettle = job
	c.settleOf = job.method
	c.mu.Unlock()
}

// settleJob is a cancelled call whose end the slot holder hands to settle
// when it releases the slot.
type settleJob struct {
	id     uint64
	method string
	why    string // why the call is being ended, for the break if it does not end
}

// settle finishes a cancelled call in the background (see cancelled): it
// reads until the call's final reply within the cancel grace, breaks the
// connection if the call does not end by then. The caller (release) owns
// the slot; handOn then clears the settling state and gives it up.
func (c *Client) settle(job *settleJob) {
	ctx, cancel := context.WithTimeout(context.Background(), c.cancelGrace)
	defer cancel()
	if err := drainCancelled(ctx, c, job.id); err != nil {
		c.breakWith(&cancelledCall{method: job.method, err: fmt.Errorf("%s, and it did not end within %v of $cancel: %v", job.why, c.cancelGrace, err)})
	}
}

// cancelLine is what cancellation needs of a connection: its frames read,
// replies that are not the cancelled call's routed by the call table, and
// control frames sent. Cancellation knows nothing of the slot or of calls:
// the dependencies run from calls (and streams) to cancellation, not back.
type cancelLine interface {
	readOne(ctx context.Context, decode func([]byte) (*wire.Response, error)) (*wire.Response, error)
	dispatch(resp *wire.Response) error
	control(ctx context.Context, id uint64, method string, args any) error
}

// drainCancelled sends $cancel for call id and reads until its final reply:
// items are dropped, callbacks answered with a cancellation.
func drainCancelled(ctx context.Context, line cancelLine, id uint64) error {
	if err := line.control(ctx, id, wire.ControlCancel, nil); err != nil {
		return err
	}
	for {
		resp, err := line.readOne(ctx, wire.DecodeResponse)
		if err != nil {
			return err
		}
		switch {
		case resp.ID != id:
			if err := line.dispatch(resp); err != nil {
				return err
			}
		case resp.Callback != nil:
			ret := wire.Return{Seq: resp.Callback.Seq, Error: &wire.ErrorObject{Kind: wire.KindCancelled, Type: wire.CancelledCallback, Message: "the call was cancelled by its Go caller"}}
			if err := line.control(ctx, id, wire.ControlReturn, ret); err != nil {
				return err
			}
		case resp.Item != nil:
		default:
			return nil
		}
	}
}

// settled returns a channel closed once a call cancelled in the background
// has ended (nil when none is): a pool hands the worker out again after it.
func (c *Client) settled() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.settling
}
