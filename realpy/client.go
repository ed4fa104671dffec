package realpy

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pyharness/pyharness/wire"
)

// Hello is a worker's answer to the readiness ping.
type Hello struct {
	Pid      int     `json:"pid"`
	WorkerID string  `json:"worker_id"`
	Python   string  `json:"python"`
	Uptime   float64 `json:"uptime"`
	Protocol int     `json:"protocol"`
	MaxFrame int     `json:"max_frame"`
	// What the worker does beyond plain calls: "stream", "cancel",
	// "callback", "async" (PROTOCOL.md, Calls that talk back).
	Features []string `json:"features,omitempty"`
}

// Supports reports whether the worker lists feature.
func (h Hello) Supports(feature string) bool { return slices.Contains(h.Features, feature) }

// Client speaks the wire protocol over one connection: framing, request ids,
// correlation of replies, error decoding and frame limits. A Worker is a
// Client plus the process behind it; NewClient runs one over any connection
// (a socket to a worker started elsewhere, or a wire-level fake).
//
// One request is in flight at a time (a worker serves one call at a time);
// further calls wait for their turn, or for their context to end, without
// touching the worker. The caller holding the turn reads the reply itself, so
// a round trip costs no goroutine hand-off. Once the connection breaks,
// every call fails with the error that broke it.
type Client struct {
	conn     net.Conn
	br       *bufio.Reader
	fr       *wire.FrameReader // the slot holder's frames: resumable after a deadline
	maxFrame int
	label    string

	callbacks   map[string]wire.Callback // WithCallback
	cancelGrace time.Duration            // how long a cancelled call may take to end cleanly
	window      int                      // items a stream may send ahead
	settling    chan struct{}            // under mu: closed when a cancelled call has ended in the background
	toSettle    *settleJob               // under mu: a cancelled call for release to hand to settle
	settleOf    string                   // under mu: the method of the cancelled call being settled, for errors
	interrupted chan struct{}            // interruptRead has set the read deadline (one reader at a time)

	nextID    atomic.Uint64
	slot      chan struct{} // holds a token while a request is in flight; its holder reads
	pipelined bool          // many requests in flight, answered in any order, read by a goroutine (a zygote's control channel)
	holding   bool          // under mu: the slot holder will read frames (probes may pipeline behind it)
	wmu       sync.Mutex    // serialises frame writes

	mu      sync.Mutex
	pending map[uint64]chan *wire.Response
	ignored map[uint64]bool // probes given up on: their late replies are dropped

	closed     atomic.Bool
	breakOnce  sync.Once
	dead       chan struct{}
	deadErr    error
	readerDone chan struct{}
	onBroken   func(cause error) error

	hello Hello
	oob   []byte         // ancillary data (SCM_RIGHTS) to send with the next write, once
	bg    sync.WaitGroup // idle probes still reading their reply
}

// cancelledCall is the cause a Client breaks with when a call's context ends
// while the worker is executing it: the worker's state is then unknown.
type cancelledCall struct {
	method string
	err    error
}

func (c *cancelledCall) Error() string {
	return fmt.Sprintf("call %q abandoned: %v", c.method, c.err)
}

// errClosing is the cause a Client breaks with when its owner closes it.
var errClosing = errors.New("closing")

func newClient(conn net.Conn, label string, maxFrame int, pipelined bool, onBroken func(error) error) *Client {
	br := bufio.NewReaderSize(conn, 64<<10)
	c := &Client{
		conn:        conn,
		br:          br,
		fr:          wire.NewFrameReader(br, maxFrame),
		maxFrame:    maxFrame,
		cancelGrace: defaultCancelGrace,
		interrupted: make(chan struct{}, 1),
		window:      defaultWindow,
		label:       label,
		slot:        make(chan struct{}, 1),
		pending:     map[uint64]chan *wire.Response{},
		ignored:     map[uint64]bool{},
		dead:        make(chan struct{}),
		readerDone:  make(chan struct{}),
		onBroken:    onBroken,
		pipelined:   pipelined,
	}
	if pipelined {
		go c.read()
	} else {
		close(c.readerDone)
	}
	return c
}

// configure takes the call settings of cfg: callbacks, cancel grace, window.
func (c *Client) configure(cfg *procConfig) {
	c.callbacks = cfg.callbacks
	if cfg.cancelGrace > 0 {
		c.cancelGrace = cfg.cancelGrace
	}
	if cfg.window > 0 {
		c.window = cfg.window
	}
}

// NewClient runs the protocol over conn and returns once the peer has answered
// a readiness ping. The Client owns conn; Close closes it. Of the options,
// WithMaxFrame, WithCallback, WithCancelGrace and WithStreamWindow apply
// (others are an *OptionError).
func NewClient(ctx context.Context, conn net.Conn, opts ...Option) (*Client, error) {
	cfg, err := newConfig(TargetClient, opts)
	if err != nil {
		return nil, err
	}
	c := newClient(conn, "connection "+conn.RemoteAddr().String(), cfg.maxFrame, false, standaloneBroken)
	c.configure(&cfg.procConfig)
	if err := c.handshake(ctx, "ping", nil); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// standaloneBroken maps a broken connection to the error later calls get when
// no process stands behind the connection.
func standaloneBroken(cause error) error {
	var cancelled *cancelledCall
	switch {
	case errors.Is(cause, errClosing):
		return wire.ErrClosed
	case errors.As(cause, &cancelled):
		return &wire.WorkerExitedError{Code: -1, Reason: "connection dropped: " + cancelled.Error()}
	case errors.Is(cause, wire.ErrProtocol), errors.Is(cause, wire.ErrFrameTooLarge):
		return cause
	case errors.Is(cause, wire.ErrWorkerExited):
		return cause
	}
	return &wire.WorkerExitedError{Code: -1, Reason: "connection lost: " + cause.Error()}
}

func (c *Client) handshake(ctx context.Context, method string, args any) error {
	var hello Hello
	if err := c.Call(ctx, method, args, &hello); err != nil {
		return err
	}
	if hello.Protocol != wire.ProtocolVersion {
		return fmt.Errorf("realpy: %s speaks protocol %d, want %d", c.label, hello.Protocol, wire.ProtocolVersion)
	}
	if hello.MaxFrame > 0 && hello.MaxFrame < c.maxFrame {
		c.maxFrame = hello.MaxFrame
		c.fr.SetMax(c.maxFrame)
	}
	c.hello = hello
	return nil
}

// Hello returns the peer's answer to the readiness ping.
func (c *Client) Hello() Hello { return c.hello }

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
	if c.pipelined {
		return c.callPipelined(ctx, req, frame, reply)
	}
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
	rawArgs, err := wire.Marshal(args)
	if err != nil {
		return wire.Request{}, nil, err
	}
	req := wire.Request{ID: c.nextID.Add(1), Method: method, Args: rawArgs, Session: wire.SessionFrom(ctx), Stream: window}
	if deadline, ok := ctx.Deadline(); ok {
		req.DeadlineMS = deadline.UnixMilli()
	}
	frame, err := encodeFrame(req, c.maxFrame)
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
	c.holding = true
	c.mu.Unlock()
	return nil
}

// roundTrip writes frame and reads replies until req's arrives; the caller
// holds the slot.
func (c *Client) roundTrip(ctx context.Context, req wire.Request, frame []byte, reply any) error {
	if err := c.write(ctx, frame); err != nil {
		return c.failWrite(ctx, req.Method, err)
	}
	for {
		resp, err := c.readOne(ctx, wire.PeekResponse)
		if err != nil {
			return c.failRead(ctx, req, err)
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
			if errors.Is(err, wire.ErrProtocol) {
				return c.fail(ctx, req.Method, err)
			}
			return err
		}
		if err := resp.Check(); err != nil {
			return c.fail(ctx, req.Method, err)
		}
		if err := c.dispatch(resp); err != nil {
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

// readOne reads one reply, decoded by decode (wire.DecodeResponse, or
// wire.PeekResponse for a reader that decodes the result itself); an ending
// context interrupts a blocked read. The frame reader keeps a frame cut by
// the interruption, so the read can be resumed (by cancelled).
func (c *Client) readOne(ctx context.Context, decode func([]byte) (*wire.Response, error)) (*wire.Response, error) {
	if ctx.Done() == nil {
		payload, err := c.fr.Next()
		if err != nil {
			return nil, err
		}
		return decode(payload)
	}
	stop := context.AfterFunc(ctx, c.interruptRead)
	payload, err := c.fr.Next()
	if !stop() {
		<-c.interrupted                         // the deadline is set: now it can be cleared
		_ = c.conn.SetReadDeadline(time.Time{}) // whoever reads next starts afresh
		if err != nil {
			return nil, &interruptedRead{err: ctx.Err()}
		}
	}
	if err != nil {
		return nil, err
	}
	return decode(payload)
}

// interruptRead makes the slot holder's blocked read return (a context
// ended), then says so on c.interrupted.
func (c *Client) interruptRead() {
	_ = c.conn.SetReadDeadline(time.Unix(1, 0))
	c.interrupted <- struct{}{}
}

// interruptedRead is a read that the end of a context interrupted: the
// connection is intact, and the frame reader resumes where it stopped.
type interruptedRead struct {
	err    error
	during string // where the call was, when not in a plain read ("while ...")
}

func (e *interruptedRead) Error() string { return "read interrupted: " + e.err.Error() }
func (e *interruptedRead) Unwrap() error { return e.err }

// Defaults of the cancel grace and of a stream's window.
const (
	defaultCancelGrace = 250 * time.Millisecond
	defaultWindow      = 16
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
	c.settling = make(chan struct{})
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

// settle finishes a cancelled call in the background (see cancelled), then
// gives up the slot.
func (c *Client) settle(job *settleJob, done chan struct{}) {
	defer c.bg.Done()
	ctx, cancel := context.WithTimeout(context.Background(), c.cancelGrace)
	defer cancel()
	if err := c.drainCancelled(ctx, job.id); err != nil {
		c.breakWith(&cancelledCall{method: job.method, err: fmt.Errorf("%s, and it did not end within %v of $cancel: %v", job.why, c.cancelGrace, err)})
	}
	c.mu.Lock()
	c.settling, c.settleOf = nil, ""
	c.mu.Unlock()
	c.releaseSlot()
	close(done)
}

// drainCancelled sends $cancel for call id and reads until its final reply:
// items are dropped, callbacks answered with a cancellation.
func (c *Client) drainCancelled(ctx context.Context, id uint64) error {
	if err := c.control(ctx, id, wire.ControlCancel, nil); err != nil {
		return err
	}
	for {
		resp, err := c.readOne(ctx, wire.DecodeResponse)
		if err != nil {
			return err
		}
		switch {
		case resp.ID != id:
			if err := c.dispatch(resp); err != nil {
				return err
			}
		case resp.Callback != nil:
			ret := wire.Return{Seq: resp.Callback.Seq, Error: &wire.ErrorObject{Kind: wire.KindCancelled, Type: wire.CancelledCallback, Message: "the call was cancelled by its Go caller"}}
			if err := c.control(ctx, id, wire.ControlReturn, ret); err != nil {
				return err
			}
		case resp.Item != nil:
		default:
			return nil
		}
	}
}

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

// answerCallback runs the Go function a handler called and sends its
// answer; a function that panics, calls runtime.Goexit, or returns what
// cannot be encoded or does not fit a frame is answered with a GoError of
// that kind. The call's context bounds the wait: a function that blocks
// past it (ignoring its context) is left running, and the call ends as a
// cancelled one (the handler's call_go raises Cancelled); so does the end of
// the connection.
func (c *Client) answerCallback(ctx context.Context, id uint64, frame *wire.CallbackFrame) error {
	var ret wire.Return
	select {
	case ret = <-wire.StartCallback(ctx, c.callbacks, frame):
	case <-ctx.Done():
		return &interruptedRead{err: ctx.Err(), during: fmt.Sprintf("while the Go function %q it called ran", frame.Name)}
	case <-c.dead:
		return c.deadErr
	}
	if ret.OK && len(ret.Result) > c.maxFrame { // not worth building the frame
		ret = wire.TooLargeReturn(frame, len(ret.Result), c.maxFrame)
	}
	err := c.control(ctx, id, wire.ControlReturn, ret)
	var tooLarge *wire.FrameTooLargeError
	if errors.As(err, &tooLarge) && ret.OK {
		return c.control(ctx, id, wire.ControlReturn, wire.TooLargeReturn(frame, int(tooLarge.Size), c.maxFrame))
	}
	return err
}

// settled returns a channel closed once a call cancelled in the background
// has ended (nil when none is): a pool hands the worker out again after it.
func (c *Client) settled() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.settling
}

// dispatch hands a reply to the call or probe waiting for it (a pipelined
// client's reader, or a slot holder reading a reply that is not its own),
// drops a late reply to a request given up on, and reports a reply nobody
// asked for as a protocol violation.
func (c *Client) dispatch(resp *wire.Response) error {
	c.mu.Lock()
	ch, ok := c.pending[resp.ID]
	delete(c.pending, resp.ID)
	late := c.ignored[resp.ID]
	delete(c.ignored, resp.ID)
	c.mu.Unlock()
	switch {
	case ok:
		ch <- resp
	case !late:
		return &wire.ProtocolError{Reason: fmt.Sprintf("reply to id %d, which no request carried", resp.ID)}
	}
	return nil
}

// release gives up the slot, first reading the replies of probes that were
// pipelined behind the holder's call (the worker answers them at once);
// unless a cancelled call is being settled in the background, which then
// owns the slot.
func (c *Client) release() {
	c.mu.Lock()
	job, done := c.toSettle, c.settling
	c.toSettle = nil
	c.mu.Unlock()
	if job != nil {
		c.bg.Add(1)
		go c.settle(job, done)
		return
	}
	c.releaseSlot()
}

func (c *Client) releaseSlot() {
	for {
		c.mu.Lock()
		if len(c.pending) == 0 && len(c.ignored) == 0 || c.Err() != nil {
			c.holding = false
			<-c.slot
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), probeDrainTimeout)
		resp, err := c.readOne(ctx, wire.DecodeResponse)
		if err == nil {
			err = c.dispatch(resp)
		}
		if err != nil {
			_ = c.fail(ctx, "ping (probe)", err)
		}
		cancel()
	}
}

// probeDrainTimeout bounds how long a finished call waits for the reply of a
// probe pipelined behind it: an idle worker answers a ping at once.
const probeDrainTimeout = 10 * time.Second

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

// write sends one frame; an ending context interrupts a blocked write.
func (c *Client) write(ctx context.Context, frame []byte) error {
	select {
	case <-c.dead:
		return c.deadErr
	default:
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if ctx.Done() == nil { // nothing can interrupt it
		_, err := c.send(frame)
		return err
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		_ = c.conn.SetWriteDeadline(time.Unix(1, 0))
		close(fired)
	})
	oob := c.oob
	n, err := c.send(frame)
	if stop() {
		return err
	}
	// The context ended during the write: clear the deadline it set, so
	// the connection stays usable when the frame went out whole or not at
	// all; only a frame cut in the middle breaks it.
	<-fired
	_ = c.conn.SetWriteDeadline(time.Time{})
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

func (e *interruptedWrite) Error() string { return "write interrupted: " + e.err.Error() }
func (e *interruptedWrite) Unwrap() error { return e.err }

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

// abandon stops waiting for the reply to id; if it comes, it is dropped.
func (c *Client) abandon(id uint64) {
	c.mu.Lock()
	if _, still := c.pending[id]; still {
		delete(c.pending, id)
		c.ignored[id] = true
	}
	c.mu.Unlock()
}

// closeWrite half-closes the connection so the worker reads EOF.
func (c *Client) closeWrite() {
	if cw, ok := c.conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		return
	}
	_ = c.conn.Close()
}

func (c *Client) register(id uint64) chan *wire.Response {
	ch := make(chan *wire.Response, 1)
	c.mu.Lock()
	c.pending[id] = ch
	c.mu.Unlock()
	return ch
}

func (c *Client) unregister(id uint64) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

// read delivers replies to their callers until the connection breaks (for a
// pipelined client only).
func (c *Client) read() {
	defer close(c.readerDone)
	for {
		payload, err := wire.ReadFrame(c.br, c.maxFrame)
		var resp *wire.Response
		if err == nil {
			resp, err = wire.DecodeResponse(payload)
		}
		if err == nil {
			err = c.dispatch(resp)
		}
		if err != nil {
			c.breakWith(err)
			return
		}
	}
}

// breakWith ends the connection once: onBroken turns the cause into the error
// every later call gets (and, for a worker, stops the process), then the
// connection is closed and waiting calls are woken.
func (c *Client) breakWith(cause error) {
	c.breakOnce.Do(func() {
		c.deadErr = c.onBroken(cause)
		_ = c.conn.Close()
		close(c.dead)
	})
}

// Err returns nil while the connection is usable, else the error calls get.
func (c *Client) Err() error {
	select {
	case <-c.dead:
		return c.deadErr
	default:
		return nil
	}
}

// Close closes the connection (and waits for a pipelined client's reader
// goroutine to end).
// Calls in flight and later calls fail with wire.ErrClosed. Idempotent.
func (c *Client) Close() error {
	c.closed.Store(true)
	c.breakWith(errClosing)
	<-c.readerDone
	c.bg.Wait()
	return nil
}

// Stream calls method and yields the items its handler streams (a Python
// generator or async generator), as they arrive; a handler that returns a
// plain value yields it as one item. The worker sends at most the stream
// window (WithStreamWindow) ahead of what the loop has taken. Breaking out
// of the loop cancels the stream: the worker closes the generator (its
// finally blocks run) before the loop ends. An error (a Python exception
// mid-stream, a crash, the context's end) is yielded once, last. The
// handler may call Go functions (WithCallback) while it streams.
func (c *Client) Stream(ctx context.Context, method string, args any) iter.Seq2[json.RawMessage, error] {
	return func(yield func(json.RawMessage, error) bool) {
		stopped := false
		guarded := func(item json.RawMessage, err error) bool {
			if stopped {
				return false
			}
			if !yield(item, err) {
				stopped = true
			}
			return !stopped
		}
		start := time.Now()
		if err := c.stream(ctx, method, args, guarded); err != nil && !stopped {
			if ce := newCallError(ctx, method, c.label, start, err); ce != nil {
				yield(nil, ce)
				return
			}
			yield(nil, fmt.Errorf("realpy: %s: stream %q: %w", c.label, method, err))
		}
	}
}

func (c *Client) stream(ctx context.Context, method string, args any, yield func(json.RawMessage, error) bool) error {
	if c.Err() == nil && !c.closed.Load() && (c.pipelined || !c.hello.Supports("stream")) {
		return fmt.Errorf("%w (its features: %v)", wire.ErrStreamUnsupported, c.hello.Features)
	}
	req, frame, err := c.prepare(ctx, method, args, c.window)
	if err != nil {
		return err
	}
	if err := c.acquire(ctx); err != nil {
		return err
	}
	ended := false
	defer func() {
		if !ended { // the loop's body panicked or called runtime.Goexit: the generator is mid-stream
			c.abandonStream(req)
		}
		c.release()
	}()
	err = c.streamItems(ctx, req, frame, yield)
	ended = true
	return err
}

// abandonStream ends a stream whose loop body panicked (a failed assertion
// recovered by the test framework) or called runtime.Goexit: the worker is
// sent $cancel and settles in the background (its generator's finally runs)
// before anyone is served; one that cannot cancel, or does not end within
// the cancel grace, is abandoned, never handed out mid-stream.
func (c *Client) abandonStream(req wire.Request) {
	const why = "the loop over its stream panicked or called runtime.Goexit mid-stream"
	if c.Err() != nil {
		return
	}
	if !c.hello.Supports("cancel") {
		c.breakWith(&cancelledCall{method: req.Method, err: errors.New(why + ", and the worker cannot cancel a stream")})
		return
	}
	c.settleLater(&settleJob{id: req.ID, method: req.Method, why: why})
}

// streamItems writes a stream's request and yields its items until its
// final reply; the caller holds the slot.
func (c *Client) streamItems(ctx context.Context, req wire.Request, frame []byte, yield func(json.RawMessage, error) bool) error {
	method := req.Method
	if err := c.write(ctx, frame); err != nil {
		return c.failWrite(ctx, method, err)
	}
	taken := 0
	for {
		resp, err := c.readOne(ctx, wire.DecodeResponse)
		if err != nil {
			return c.failRead(ctx, req, err)
		}
		switch {
		case resp.ID != req.ID:
			if err := c.dispatch(resp); err != nil {
				return c.fail(ctx, method, err)
			}
		case resp.Callback != nil:
			if err := c.answerCallback(ctx, req.ID, resp.Callback); err != nil {
				return c.failRead(ctx, req, err)
			}
		case resp.Item != nil:
			if !yield(resp.Item, nil) {
				return c.stopStream(ctx, req)
			}
			if taken++; taken >= max(1, c.window/2) {
				if err := c.control(ctx, req.ID, wire.ControlCredit, taken); err != nil {
					return c.failRead(ctx, req, err)
				}
				taken = 0
			}
		default:
			return decodeReply(resp, nil)
		}
	}
}

// stopStream cancels a stream its consumer left, and waits (within the
// cancel grace, and ctx) for the worker to close the generator.
func (c *Client) stopStream(ctx context.Context, req wire.Request) error {
	grace, cancel := context.WithTimeout(ctx, c.cancelGrace)
	defer cancel()
	if err := c.drainCancelled(grace, req.ID); err != nil {
		c.breakWith(&cancelledCall{method: req.Method, err: fmt.Errorf("the stream was left, and it did not end within %v of $cancel: %v", c.cancelGrace, err)})
	}
	return nil
}
