// Client: the watch on a round trip's context: one context.AfterFunc per
// round trip, and none at all for calls that keep coming under the same
// context (a suite's, a program's).

package realpy

import (
	"context"
	"sync"
	"time"
)

// watch makes the end of a call's context interrupt the slot holder's
// round trip (roundTrip: its write and its reads) with one registration:
// context.AfterFunc costs two allocations and a turn on the parent
// context's lock, which every caller sharing that context takes.
//
// A registration ends with its round trip, unless the previous round trip
// ran under the same context: then it stays for the next one, which
// registers nothing. A kept registration is dropped when a round trip runs
// under another context, when that context ends, or when the connection
// breaks or closes (until then the context refers to the client).
//
// Its func (interruptWatched) interrupts only a round trip in flight; one
// that runs while none is does nothing. Whoever drops a registration whose
// func has started (stop() false) waits for it to end (watchEnded), so that
// no func of an old registration ever runs beside a later round trip.
type watch struct {
	mu     sync.Mutex
	done   <-chan struct{} // the Done of the registered context; nil: none registered
	stop   func() bool
	keep   bool            // the registration outlives its round trip
	spent  bool            // its func has run: the context ended
	active bool            // a round trip under it is in flight
	fired  bool            // the context ended during that round trip: the deadlines are set
	last   <-chan struct{} // the Done of the previous round trip's context
}

// arm watches ctx for the round trip about to start; false when ctx cannot
// end (nothing to watch).
func (c *Client) arm(ctx context.Context) bool {
	done := ctx.Done()
	if done == nil {
		return false
	}
	w := &c.watch
	w.mu.Lock()
	if w.stop != nil && w.done == done && !w.spent { // kept from the previous round trip
		w.active = true
		w.mu.Unlock()
		return true
	}
	stop := w.stop
	w.stop, w.done = nil, nil
	w.mu.Unlock()
	c.dropWatch(stop)

	w.mu.Lock()
	w.keep = w.last == done // a second round trip in a row under ctx: calls keep coming under it
	w.last = done
	w.done, w.spent, w.fired, w.active = done, false, false, true
	w.stop = context.AfterFunc(ctx, c.onWatchCancel)
	w.mu.Unlock()
	return true
}

// disarm ends the round trip armed by arm: the registration is dropped
// unless kept, and the deadlines an ending context set are cleared (the
// connection stays usable, as after an interrupted read or write).
func (c *Client) disarm() {
	w := &c.watch
	w.mu.Lock()
	w.active = false
	fired := w.fired
	w.fired = false
	var stop func() bool
	if !w.keep || c.Err() != nil {
		stop = w.stop
		w.stop, w.done = nil, nil
	}
	w.mu.Unlock()
	c.dropWatch(stop)
	if fired {
		_ = c.conn.SetReadDeadline(time.Time{})
		_ = c.conn.SetWriteDeadline(time.Time{})
	}
}

// unwatch drops a kept registration: the connection broke or closed.
func (c *Client) unwatch() {
	w := &c.watch
	w.mu.Lock()
	stop := w.stop
	w.stop, w.done = nil, nil
	w.mu.Unlock()
	c.dropWatch(stop)
}

// dropWatch stops a registration taken off the watch (nil: none); if its
// func has started, it waits for the func to end.
func (c *Client) dropWatch(stop func() bool) {
	if stop != nil && !stop() {
		<-c.watchEnded
	}
}

// interruptWatched is the registration's func: the context ended. A round
// trip in flight is interrupted (both deadlines set; its read or write
// returns, and it sees watchFired).
func (c *Client) interruptWatched() {
	w := &c.watch
	w.mu.Lock()
	w.spent = true
	if w.active {
		past := time.Unix(1, 0)
		_ = c.conn.SetReadDeadline(past)
		_ = c.conn.SetWriteDeadline(past)
		w.fired = true
	}
	w.mu.Unlock()
	c.watchEnded <- struct{}{} // for whoever drops the registration (one func per registration: never blocks)
}

// watchFired reports whether the armed round trip's context ended during it.
func (c *Client) watchFired() bool {
	c.watch.mu.Lock()
	defer c.watch.mu.Unlock()
	return c.watch.fired
}
