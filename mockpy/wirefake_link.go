// The wire fake: one call's side channel (items, callbacks, control frames).

package mockpy

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/pyharness/pyharness/wire"
)

// wireLink is one call's side channel on the wire fake: items out under
// the caller's credit, callbacks out and their $return in, $cancel in.
type wireLink struct {
	s        *server
	req      *wire.Request
	id       uint64
	ctx      context.Context
	cancel   context.CancelFunc
	items    int
	writeErr error

	mu       sync.Mutex
	cond     *sync.Cond
	credit   int
	stopped  bool // $cancel arrived, or the connection is gone
	gone     bool // the caller left the stream
	returns  map[uint64]wire.Return
	finished bool

	ended chan struct{} // closed when the call has been served, or dropped
	after []*wireLink   // cancelled calls of its session it runs after
}

// control applies one control frame of this call.
func (l *wireLink) control(ctl *wire.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch ctl.Method {
	case wire.ControlCredit:
		var n int
		_ = json.Unmarshal(ctl.Args, &n)
		l.credit += n
	case wire.ControlCancel:
		l.stopped = true
		l.cancel()
	case wire.ControlReturn:
		var ret wire.Return
		if json.Unmarshal(ctl.Args, &ret) == nil {
			l.returns[ret.Seq] = ret
		}
	}
	l.cond.Broadcast()
}

// watch wakes whoever waits when the call's context ends ($cancel, or the
// connection gone), until the returned stop.
func (l *wireLink) watch() (stop func()) {
	stopWatch := context.AfterFunc(l.ctx, func() {
		l.mu.Lock()
		l.stopped = true
		l.cond.Broadcast()
		l.mu.Unlock()
	})
	return func() {
		stopWatch()
		l.mu.Lock()
		l.finished = true
		l.cond.Broadcast()
		l.mu.Unlock()
	}
}

func (l *wireLink) cancelled() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stopped
}

func (l *wireLink) left() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.gone
}

func (l *wireLink) write(v any) bool {
	if l.writeErr != nil {
		return false
	}
	payload, err := json.Marshal(v)
	if err == nil {
		err = l.s.writeFrame(payload)
	}
	l.writeErr = err
	return err == nil
}

// send writes one item once the caller's credit allows; false when the
// caller cancelled the stream.
func (l *wireLink) send(item json.RawMessage) bool {
	l.mu.Lock()
	for l.credit <= 0 && !l.stopped {
		l.cond.Wait()
	}
	if l.stopped {
		l.gone = true
		l.mu.Unlock()
		return false
	}
	l.credit--
	l.mu.Unlock()
	l.items++
	return l.write(map[string]any{"id": l.id, "item": item})
}

// callGo sends a callback frame and waits for its $return, or for $cancel.
func (l *wireLink) callGo(_ context.Context, frame *wire.CallbackFrame) wire.Return {
	if !l.write(map[string]any{"id": l.id, "callback": frame}) {
		return wire.Return{Seq: frame.Seq, Error: &wire.ErrorObject{Type: wire.CancelledCallback, Message: "the connection is gone"}}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		if ret, ok := l.returns[frame.Seq]; ok {
			delete(l.returns, frame.Seq)
			return ret
		}
		if l.stopped || l.finished {
			return wire.Return{Seq: frame.Seq, Error: &wire.ErrorObject{Type: wire.CancelledCallback, Message: "the call was cancelled by its Go caller"}}
		}
		l.cond.Wait()
	}
}
