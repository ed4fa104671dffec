package mockpy

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strings"
	"sync"

	"github.com/pyharness/pyharness/wire"
)

// Pipe returns one end of an in-memory connection whose other end the mock
// serves at the wire level (Serve): hand it to realpy.NewClient to run the
// real client code against the mock. Closing it ends the serving goroutine.
func (m *Interpreter) Pipe() net.Conn {
	client, server := net.Pipe()
	go func() { _ = m.Serve(server) }()
	return client
}

// Serve speaks the protocol of PROTOCOL.md on conn, as a worker: it reads
// request frames, answers each with the mock's handlers, and writes response
// frames, until EOF, shutdown, or a fault that ends a real worker (a crash
// closes the connection without an answer, a hang holds the call until the
// client gives up, garbage writes a malformed frame). Streams, $cancel and
// calls into Go (CallGo) go over the wire as with a real worker. It closes
// conn.
func (m *Interpreter) Serve(conn net.Conn) error {
	defer conn.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	requests := make(chan *wire.Request)
	controls := make(chan *wire.Request, 64)
	readErr := make(chan error, 1)
	go func() { // reads ahead so that a client hanging up cancels the call in progress
		defer cancel()
		for {
			payload, err := wire.ReadFrame(conn, m.maxFrame)
			if err == nil {
				var req *wire.Request
				if req, err = wire.DecodeRequest(payload); err == nil {
					ch := requests
					if strings.HasPrefix(req.Method, "$") {
						ch = controls
					}
					select {
					case ch <- req:
						continue
					case <-ctx.Done():
						return
					}
				}
			}
			readErr <- err
			return
		}
	}()
	for {
		var req *wire.Request
		select {
		case req = <-requests:
		case <-controls: // a late control frame of a call that has ended
			continue
		case err := <-readErr:
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) {
				return nil
			}
			return err
		}
		callCtx, cancelCall := context.WithCancel(ctx)
		if req.Session != "" {
			callCtx = wire.WithSession(callCtx, req.Session)
		}
		link := newWireLink(conn, req.ID, m.maxFrame, req.Stream, cancelCall)
		stopRouting := link.route(callCtx, controls)
		var result json.RawMessage
		var err error
		if req.Stream > 0 {
			err = m.stream(callCtx, req.Method, req.Args, link.callGo, link.send)
			if err == nil && link.left() {
				err = &wire.PythonError{Kind: wire.KindCancelled, Type: "Cancelled", Message: "stream cancelled by the caller"}
			} else if err == nil {
				result = json.RawMessage(`{"items":` + itoa(link.items) + `}`)
			}
		} else {
			result, err = m.invoke(callCtx, req.Method, req.Args, link.callGo)
		}
		stopRouting()
		cancelled := link.cancelled()
		cancelCall()
		if link.writeErr != nil {
			return link.writeErr
		}
		resp := wire.Response{ID: req.ID, OK: err == nil, Result: result}
		var pyErr *wire.PythonError
		switch {
		case err == nil:
		case errors.As(err, &pyErr):
			resp.Error = &wire.ErrorObject{Kind: pyErr.Kind, Type: pyErr.Type, Message: pyErr.Message, Traceback: pyErr.Traceback}
		case errors.Is(err, wire.ErrProtocol):
			return writeRaw(conn, []byte("{this is not json"))
		case cancelled && m.alive():
			// A handler that stopped at $cancel (Cancelled, a stream): the
			// worker lives and says the call was cancelled.
			resp.Error = &wire.ErrorObject{Kind: wire.KindCancelled, Type: "Cancelled", Message: "cancelled by the caller"}
		default: // the worker is gone: a crash, a killed hang, a closed mock
			return nil
		}
		payload, encErr := wire.EncodeResponse(resp)
		if encErr != nil {
			return encErr
		}
		if err := wire.WriteFrame(conn, payload, m.maxFrame); err != nil {
			return err
		}
		if req.Method == "shutdown" && m.builtins {
			return nil
		}
	}
}

// alive reports whether the mock has not died.
func (m *Interpreter) alive() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.dead == nil && !m.closed
}

// wireLink is one call's side channel on the wire fake: items out under
// the caller's credit, callbacks out and their $return in, $cancel in.
type wireLink struct {
	conn     net.Conn
	id       uint64
	max      int
	cancel   context.CancelFunc
	items    int
	writeErr error

	mu       sync.Mutex
	cond     *sync.Cond
	credit   int
	stopped  bool // $cancel arrived
	gone     bool // the caller left the stream
	returns  map[uint64]wire.Return
	finished bool
}

func newWireLink(conn net.Conn, id uint64, max, credit int, cancel context.CancelFunc) *wireLink {
	l := &wireLink{conn: conn, id: id, max: max, credit: credit, cancel: cancel, returns: map[uint64]wire.Return{}}
	l.cond = sync.NewCond(&l.mu)
	return l
}

// route applies the control frames of this call until the returned stop.
func (l *wireLink) route(ctx context.Context, controls <-chan *wire.Request) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ended := ctx.Done()
		for {
			select {
			case <-done:
				return
			case <-ended: // the connection is gone, or $cancel: wake whoever waits
				ended = nil
				l.mu.Lock()
				l.stopped = true
				l.cond.Broadcast()
				l.mu.Unlock()
			case ctl := <-controls:
				if ctl.ID != l.id {
					continue
				}
				l.mu.Lock()
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
				l.mu.Unlock()
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
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
		err = wire.WriteFrame(l.conn, payload, l.max)
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

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func writeRaw(conn net.Conn, body []byte) error {
	frame, err := wire.AppendFrame(nil, body, len(body))
	if err != nil {
		return err
	}
	_, err = conn.Write(frame)
	return err
}
