package mockpy

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"

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
// calls into Go (CallGo) go over the wire as with a real worker. It serves
// one request at a time, in the order read; with WithConcurrency(n), n > 1,
// up to n at once, each answered when its handler ends (a ping at once),
// as a multiplexing worker does; a request of a session read after a
// $cancel for a call of that session runs once the cancelled handler has
// ended, as a worker's event loop runs a cancellation before the requests
// it reads next. It closes conn.
func (m *Interpreter) Serve(conn net.Conn) error {
	s := &server{m: m, conn: conn, links: map[uint64]*wireLink{}, stopped: make(chan struct{}), ready: make(chan struct{}, 1)}
	defer conn.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	readErr := make(chan error, 1)
	// The reader never waits for the calls: control frames reach their
	// call while requests queue, and a client hanging up cancels the calls
	// in progress.
	go func() {
		defer cancel()
		for {
			payload, err := wire.ReadFrame(conn, m.maxFrame)
			if err == nil {
				var req *wire.Request
				if req, err = wire.DecodeRequest(payload); err == nil {
					if strings.HasPrefix(req.Method, "$") {
						s.control(req)
						continue
					}
					if req.Method == "ping" && pingWantsSegments(req.Args) {
						s.segments.Store(true)
					}
					s.enqueue(s.open(ctx, req))
					continue
				}
			}
			readErr <- err
			return
		}
	}()
	slots := 1
	if m.multiplex() {
		slots = m.limit
	}
	turns := make(chan struct{}, slots)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		link := s.dequeue()
		if link == nil {
			select {
			case <-s.ready:
				continue
			case err := <-readErr:
				wg.Wait()
				if err := s.result(); err != nil || s.over() {
					return err
				}
				if errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) {
					return nil
				}
				return err
			case <-s.stopped:
				wg.Wait()
				return s.result()
			}
		}
		queued := !m.exempt(link.req.Method) // a multiplexing worker answers pings whatever runs
		if queued {
			select {
			case turns <- struct{}{}:
			case <-s.stopped:
				wg.Wait()
				return s.result()
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(link.ended)
			if queued && !s.awaitCancelled(link) {
				s.close(link)
				<-turns
				return
			}
			if link.req.Behind && !m.multiplex() && link.cancelled() {
				s.cancelledBeforeStart(link) // pipelined, and its $cancel came first: it never runs
			} else {
				s.serve(link)
			}
			s.close(link)
			if queued {
				<-turns
			}
		}()
	}
}

// server is one connection of the wire fake: its calls by id, and one
// writer at a time.
type server struct {
	m    *Interpreter
	conn net.Conn

	mu      sync.Mutex
	links   map[uint64]*wireLink
	queue   []*wireLink   // requests read, not yet running, in order
	ready   chan struct{} // a request was queued
	writing sync.Mutex
	stopped chan struct{} // closed when the connection ends (stop)
	done    bool
	err     error
	// segments: the client's ping said it reads segmented frames, so
	// replies carry large strings as segments, as a worker's do.
	segments atomic.Bool
	// cancelled: calls of a session whose $cancel was read while they had
	// not ended. A request of that session read after the $cancel runs
	// once they end, as a worker's event loop runs a cancelled task's
	// cancellation before the requests it reads next.
	cancelled []*wireLink
}

// open makes the link of a request as it is read, so that its control
// frames find it even before it runs.
func (s *server) open(ctx context.Context, req *wire.Request) *wireLink {
	callCtx, cancel := context.WithCancel(ctx)
	if req.Session != "" {
		callCtx = wire.WithSession(callCtx, req.Session)
	}
	l := &wireLink{s: s, req: req, id: req.ID, credit: req.Stream, ctx: callCtx, cancel: cancel, returns: map[uint64]wire.Return{}, ended: make(chan struct{})}
	l.cond = sync.NewCond(&l.mu)
	s.mu.Lock()
	s.links[req.ID] = l
	kept := s.cancelled[:0]
	for _, c := range s.cancelled {
		select {
		case <-c.ended:
			continue
		default:
		}
		kept = append(kept, c)
		if req.Session != "" && c.req.Session == req.Session {
			l.after = append(l.after, c)
		}
	}
	s.cancelled = kept
	s.mu.Unlock()
	return l
}

// awaitCancelled waits until the cancelled calls of l's session that were
// read before it have ended; false when the connection ends first.
func (s *server) awaitCancelled(l *wireLink) bool {
	for _, c := range l.after {
		select {
		case <-c.ended:
		case <-s.stopped:
			return false
		}
	}
	return true
}

func (s *server) enqueue(l *wireLink) {
	s.mu.Lock()
	s.queue = append(s.queue, l)
	s.mu.Unlock()
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// dequeue returns the next request to run, nil when none is queued.
func (s *server) dequeue() *wireLink {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 {
		return nil
	}
	l := s.queue[0]
	s.queue = s.queue[1:]
	return l
}

func (s *server) close(l *wireLink) {
	s.mu.Lock()
	if s.links[l.id] == l {
		delete(s.links, l.id)
	}
	s.mu.Unlock()
	l.cancel()
}

// control applies a control frame to its call; one for a call that has
// ended is ignored.
func (s *server) control(ctl *wire.Request) {
	s.mu.Lock()
	l := s.links[ctl.ID]
	if l != nil && ctl.Method == wire.ControlCancel && l.req.Session != "" {
		s.cancelled = append(s.cancelled, l)
	}
	s.mu.Unlock()
	if l != nil {
		l.control(ctl)
	}
}

// stop ends the connection (once): the worker is gone, or a write failed.
func (s *server) stop(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return
	}
	s.done, s.err = true, err
	close(s.stopped)
	_ = s.conn.Close()
}

func (s *server) over() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.done
}

func (s *server) result() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// writeFrame writes one frame, whole, unless the connection has ended.
func (s *server) writeFrame(payload []byte) error {
	s.writing.Lock()
	defer s.writing.Unlock()
	if s.over() {
		return net.ErrClosed
	}
	return wire.WriteFrame(s.conn, payload, s.m.maxFrame)
}

// writeReply writes a final reply: segmented, as a worker writes it,
// when the client reads segments and the reply holds a large string.
func (s *server) writeReply(payload []byte) error {
	if s.segments.Load() && len(payload) >= wire.SegmentMin {
		if frame, ok := wire.Segment(payload, wire.SegmentMin); ok && len(frame)-wire.HeaderSize <= s.m.maxFrame {
			s.writing.Lock()
			defer s.writing.Unlock()
			if s.over() {
				return net.ErrClosed
			}
			_, err := s.conn.Write(frame)
			return err
		}
	}
	return s.writeFrame(payload)
}

// pingWantsSegments reports whether ping's args are {"segments": true}.
func pingWantsSegments(args json.RawMessage) bool {
	var a struct {
		Segments bool `json:"segments"`
	}
	return len(args) > 0 && args[0] == '{' && json.Unmarshal(args, &a) == nil && a.Segments
}

// serve runs one request and writes its answer; what ends a real worker
// ends the connection.
func (s *server) serve(l *wireLink) {
	m, req := s.m, l.req
	stop := l.watch()
	var result json.RawMessage
	var err error
	if req.Stream > 0 {
		err = m.stream(l.ctx, req.Method, req.Args, l.callGo, l.send)
		if err == nil && l.left() {
			err = &wire.PythonError{Kind: wire.KindCancelled, Type: "Cancelled", Message: "stream cancelled by the caller"}
		} else if err == nil {
			result = json.RawMessage(`{"items":` + itoa(l.items) + `}`)
		}
	} else {
		result, err = m.invoke(l.ctx, req.Method, req.Args, l.callGo)
	}
	stop()
	cancelled := l.cancelled()
	if l.writeErr != nil {
		s.stop(l.writeErr)
		return
	}
	resp := wire.Response{ID: req.ID, OK: err == nil, Result: result}
	var pyErr *wire.PythonError
	switch {
	case err == nil:
	case errors.As(err, &pyErr):
		resp.Error = &wire.ErrorObject{Kind: pyErr.Kind, Type: pyErr.Type, Message: pyErr.Message, Traceback: pyErr.Traceback}
	case errors.Is(err, wire.ErrProtocol):
		s.writing.Lock()
		werr := writeRaw(s.conn, []byte("{this is not json"))
		s.writing.Unlock()
		s.stop(werr)
		return
	case cancelled && m.alive():
		// A handler that stopped at $cancel (Cancelled, a stream): the
		// worker lives and says the call was cancelled.
		resp.Error = &wire.ErrorObject{Kind: wire.KindCancelled, Type: "Cancelled", Message: "cancelled by the caller"}
	default: // the worker is gone: a crash, a killed hang, a closed mock
		s.stop(nil)
		return
	}
	payload, encErr := wire.EncodeResponse(resp)
	if encErr != nil {
		s.stop(encErr)
		return
	}
	if err := s.writeReply(payload); err != nil {
		if !errors.Is(err, net.ErrClosed) {
			s.stop(err)
		}
		return
	}
	if req.Method == "shutdown" && m.builtins {
		s.stop(nil)
	}
}

// cancelledBeforeStart answers a request written behind another call
// whose $cancel was read before it started, as a worker that lists
// "pipeline" does: cancelled, in turn, without running its handler.
func (s *server) cancelledBeforeStart(l *wireLink) {
	resp := wire.Response{ID: l.id, Error: &wire.ErrorObject{Kind: wire.KindCancelled, Type: "Cancelled", Message: "cancelled by the caller before it started"}}
	payload, err := wire.EncodeResponse(resp)
	if err == nil {
		err = s.writeReply(payload)
	}
	if err != nil && !errors.Is(err, net.ErrClosed) {
		s.stop(err)
	}
}

// alive reports whether the mock has not died.
func (m *Interpreter) alive() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.dead == nil && !m.closed
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
