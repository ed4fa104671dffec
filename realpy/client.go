package realpy

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
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
	// How many calls the worker serves at once when it lists "multiplex"
	// (its --concurrency; 0 when it serves one at a time).
	Concurrency int `json:"concurrency,omitempty"`
	// Threads its sync handlers run in (WithSyncThreads; 0: the loop's).
	SyncThreads int `json:"sync_threads,omitempty"`
	// A multiplexing worker whose event loop a handler blocks (a sync call
	// inside async def) still answers pings, from its reader thread: then
	// LoopBlocked is how long the loop has been blocked, in seconds, and
	// BlockedBy the call seen running ("handler 'hog' (call 3)").
	LoopBlocked float64 `json:"loop_blocked,omitempty"`
	BlockedBy   string  `json:"blocked_by,omitempty"`
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
// a round trip costs no goroutine hand-off. With WithConcurrency(n) and a
// peer that lists "multiplex", up to n calls are in flight at once, their
// replies matched by id in any order (Capacity says which). Once the
// connection breaks, every call fails with the error that broke it.
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
	// interruptWrite has set the write deadline (one writer at a time, wmu)
	writeInterrupted chan struct{}
	// c.interruptRead and c.interruptWrite as func values, made once: a
	// call's context.AfterFunc then allocates only its registration
	onReadCancel, onWriteCancel func()
	watch                       watch         // the slot holder's round trip's context (client_watch.go)
	watchEnded                  chan struct{} // a watch registration's func has ended
	onWatchCancel               func()        // c.interruptWatched, made once

	nextID    atomic.Uint64
	slot      chan struct{} // holds a token while a request is in flight; its holder reads
	pipelined bool          // many requests in flight, answered in any order, read by a goroutine (a zygote's control channel)
	mux       bool          // multiplexed calls (client_mux.go): up to cap(inflight) in flight, read by a goroutine
	inflight  chan struct{} // a token per call in flight on a multiplexed client
	holding   bool          // under mu: the slot holder will read frames (probes may pipeline behind it)
	plainHold bool          // under mu: the holder makes a plain call (a call may be written behind it)
	// WithPipelining, on a peer that lists "pipeline": a plain call may be
	// written behind the holder's (client_pipeline.go)
	pipelining bool
	behind     *behindCall // under mu: the call written behind the holder's
	wmu        sync.Mutex  // serialises frame writes

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
	// segmentMin > 0: the peer reads segmented frames (PROTOCOL.md,
	// Segmented frames), and args of that many bytes travel as segments.
	segmentMin int
	own        wire.Response  // the slot holder's reply, decoded in place (roundTrip)
	oob        []byte         // ancillary data (SCM_RIGHTS) to send with the next write, once
	bg         sync.WaitGroup // idle probes still reading their reply
}

// errClosing is the cause a Client breaks with when its owner closes it.
var errClosing = errors.New("closing")

// cancelledCall is the cause a Client breaks with when a call's context ends
// while the worker is executing it: the worker's state is then unknown.
type cancelledCall struct {
	method string
	err    error
}

func (c *cancelledCall) Error() string {
	return fmt.Sprintf("call %q abandoned: %v", c.method, c.err)
}

// Defaults of the cancel grace and of a stream's window.
const (
	defaultCancelGrace = 250 * time.Millisecond
	defaultWindow      = 16
)

func newClient(conn net.Conn, label string, maxFrame int, pipelined bool, onBroken func(error) error) *Client {
	br := bufio.NewReaderSize(conn, 64<<10)
	c := &Client{
		conn:             conn,
		br:               br,
		fr:               wire.NewFrameReader(br, maxFrame),
		maxFrame:         maxFrame,
		cancelGrace:      defaultCancelGrace,
		interrupted:      make(chan struct{}, 1),
		writeInterrupted: make(chan struct{}, 1),
		watchEnded:       make(chan struct{}, 1),
		window:           defaultWindow,
		label:            label,
		slot:             make(chan struct{}, 1),
		pending:          map[uint64]chan *wire.Response{},
		ignored:          map[uint64]bool{},
		dead:             make(chan struct{}),
		readerDone:       make(chan struct{}),
		onBroken:         onBroken,
		pipelined:        pipelined,
	}
	c.onReadCancel, c.onWriteCancel, c.onWatchCancel = c.interruptRead, c.interruptWrite, c.interruptWatched
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
// WithMaxFrame, WithCallback, WithCancelGrace, WithStreamWindow and
// WithConcurrency (with a peer that multiplexes) apply (others are an
// *OptionError).
func NewClient(ctx context.Context, conn net.Conn, opts ...Option) (*Client, error) {
	cfg, err := newConfig(targetClient, opts)
	if err != nil {
		return nil, err
	}
	c := newClient(conn, "connection "+conn.RemoteAddr().String(), cfg.maxFrame, false, standaloneBroken)
	c.configure(&cfg.procConfig)
	if err := c.handshake(ctx, "ping", nil); err != nil {
		c.Close()
		return nil, err
	}
	c.multiplex(cfg.concurrency)
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

// segmentsPing is the readiness ping's args: the Go side reads segmented
// frames, so the worker may reply with them (PROTOCOL.md, Segmented frames).
var segmentsPing = json.RawMessage(`{"segments":true}`)

func (c *Client) handshake(ctx context.Context, method string, args any) error {
	if method == "ping" && args == nil {
		args = segmentsPing
	}
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
	if hello.Supports(wire.FeatureSegments) {
		c.segmentMin = wire.SegmentMin
	}
	return nil
}

// Hello returns the peer's answer to the readiness ping.
func (c *Client) Hello() Hello { return c.hello }

// breakWith ends the connection once: onBroken turns the cause into the error
// every later call gets (and, for a worker, stops the process), then the
// connection is closed and waiting calls are woken.
func (c *Client) breakWith(cause error) {
	c.breakOnce.Do(func() {
		c.deadErr = c.onBroken(cause)
		_ = c.conn.Close()
		close(c.dead)
		c.unwatch() // a kept registration: the context no longer refers to the client
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
