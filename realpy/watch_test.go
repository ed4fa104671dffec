package realpy

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"strconv"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/wire"
)

// echoPeer answers every request on conn with {"id", "ok": true, "result": 42},
// allocating nothing: what it costs does not show in the client's count.
func echoPeer(conn net.Conn) {
	var head [4]byte
	buf := make([]byte, 0, 4096)
	out := make([]byte, 0, 128)
	for {
		if _, err := io.ReadFull(conn, head[:]); err != nil {
			return
		}
		buf = buf[:binary.BigEndian.Uint32(head[:])]
		if _, err := io.ReadFull(conn, buf); err != nil {
			return
		}
		at := bytes.Index(buf, []byte(`"id":`)) + len(`"id":`)
		end := at
		for end < len(buf) && buf[end] >= '0' && buf[end] <= '9' {
			end++
		}
		out = append(out[:4], `{"id":`...)
		out = append(out, buf[at:end]...)
		out = append(out, `,"ok":true,"result":42}`...)
		binary.BigEndian.PutUint32(out, uint32(len(out)-4))
		if _, err := conn.Write(out); err != nil {
			return
		}
	}
}

// heldPeer serves requests one at a time like a worker that supports
// $cancel: "echo" is answered at once; "hold" is announced on held and
// answered when release is closed, or with a cancelled error when a
// $cancel for it comes first.
type heldPeer struct {
	conn    net.Conn
	held    chan uint64
	release chan struct{}
}

func (p *heldPeer) serve() {
	frames := make(chan *wire.Request, 4)
	go func() {
		defer close(frames)
		for {
			payload, err := wire.ReadFrame(p.conn, wire.DefaultMaxFrame)
			if err != nil {
				return
			}
			req, err := wire.DecodeRequest(payload)
			if err != nil {
				return
			}
			frames <- req
		}
	}()
	reply := func(resp wire.Response) bool {
		out, _ := wire.EncodeResponse(resp)
		return wire.WriteFrame(p.conn, out, wire.DefaultMaxFrame) == nil
	}
	for req := range frames {
		switch req.Method {
		case "echo":
			if !reply(wire.Response{ID: req.ID, OK: true, Result: req.Args}) {
				return
			}
		case "hold":
			p.held <- req.ID
			resp := wire.Response{ID: req.ID, OK: true, Result: []byte(`"released"`)}
			select {
			case <-p.release:
			case ctl, ok := <-frames:
				if !ok {
					return
				}
				Expect(ctl.Method).To(Equal(wire.ControlCancel))
				Expect(ctl.ID).To(Equal(req.ID))
				resp = wire.Response{ID: req.ID, Error: &wire.ErrorObject{Kind: wire.KindCancelled, Type: "Cancelled", Message: "cancelled"}}
			}
			if !reply(resp) {
				return
			}
		}
	}
}

// The slot holder's round trip watches its context with one registration
// (client_watch.go), kept from call to call under the same context: an
// ending context still interrupts the call in flight, and only that one.
var _ = Describe("A round trip's watch on its context", func() {
	pipe := func() (*Client, net.Conn) {
		ours, theirs := net.Pipe()
		c := newClient(ours, "pipe", 1<<20, false, func(err error) error { return err })
		c.hello = Hello{Features: []string{"cancel"}}
		DeferCleanup(func() {
			_ = c.Close()
			_ = theirs.Close()
		})
		return c, theirs
	}
	held := func() (*Client, *heldPeer) {
		c, theirs := pipe()
		peer := &heldPeer{conn: theirs, held: make(chan uint64, 1), release: make(chan struct{})}
		go peer.serve()
		return c, peer
	}
	echo := func(ctx context.Context, c *Client, v string) {
		GinkgoHelper()
		var back string
		Expect(c.Call(ctx, "echo", v, &back)).To(Succeed())
		Expect(back).To(Equal(v))
	}

	It("allocates nothing for calls that keep coming under one context that can end", func() {
		c, theirs := pipe()
		go echoPeer(theirs)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var n int
		call := func() {
			if err := c.Call(ctx, "echo", 7, &n); err != nil || n != 42 {
				Fail("call: " + strconv.Itoa(n) + ": " + errString(err))
			}
		}
		call()
		call() // the second under ctx keeps the registration
		cancellable := testing.AllocsPerRun(200, call)
		background := testing.AllocsPerRun(200, func() {
			if err := c.Call(context.Background(), "echo", 7, &n); err != nil {
				Fail(err.Error())
			}
		})
		if raceEnabled {
			Skip("the race detector's sync.Pool drops buffers at random: the calls ran, their count is not the program's")
		}
		Expect(cancellable).To(BeZero())
		Expect(background).To(BeZero(), "nor under a context that cannot end")
	})

	It("interrupts a call whose context ends, under a kept registration, and leaves the connection usable", func() {
		c, peer := held()
		ctx, cancel := context.WithCancel(context.Background())
		echo(ctx, c, "one")
		echo(ctx, c, "two") // kept from here on
		errs := make(chan error, 1)
		go func() { errs <- c.Call(ctx, "hold", nil, nil) }()
		<-peer.held
		cancel()
		err := <-errs
		Expect(err).To(MatchError(context.Canceled))
		Expect(err).To(MatchError(ContainSubstring("was sent $cancel")))
		awaitSettled(c) // the peer answered the $cancel: the worker is kept
		Expect(c.Err()).NotTo(HaveOccurred())
		echo(context.Background(), c, "after, with no deadline left on the connection")
		other, stop := context.WithCancel(context.Background())
		defer stop()
		echo(other, c, "and under another context")
	})

	It("interrupts a call whose context ends, under a registration of its own", func() {
		c, peer := held()
		echo(context.Background(), c, "before")
		ctx, cancel := context.WithCancel(context.Background())
		errs := make(chan error, 1)
		go func() { errs <- c.Call(ctx, "hold", nil, nil) }()
		<-peer.held
		cancel()
		Expect(<-errs).To(MatchError(context.Canceled))
		awaitSettled(c)
		echo(context.Background(), c, "after")
	})

	It("leaves a call under another context alone when the context it kept for earlier calls ends", func() {
		c, peer := held()
		first, endFirst := context.WithCancel(context.Background())
		echo(first, c, "one")
		echo(first, c, "two") // kept for first
		second, endSecond := context.WithCancel(context.Background())
		defer endSecond()
		var back string
		errs := make(chan error, 1)
		go func() { errs <- c.Call(second, "hold", nil, &back) }()
		<-peer.held
		endFirst() // the registration for first was dropped when the call under second began
		Consistently(errs).ShouldNot(Receive(), "the call under second goes on")
		close(peer.release)
		Expect(<-errs).To(Succeed())
		Expect(back).To(Equal("released"))
		echo(second, c, "and the connection serves on")
	})

	It("lets a context that ended between calls leave the next call alone", func() {
		c, _ := held()
		first, endFirst := context.WithCancel(context.Background())
		echo(first, c, "one")
		echo(first, c, "two") // kept for first
		endFirst()            // its func runs while no round trip is in flight
		Eventually(func() bool {
			c.watch.mu.Lock()
			defer c.watch.mu.Unlock()
			return c.watch.spent
		}).Should(BeTrue())
		echo(context.Background(), c, "a call that cannot be interrupted")
		second, endSecond := context.WithCancel(context.Background())
		defer endSecond()
		echo(second, c, "a call under a new context")
		Expect(c.Call(first, "echo", "under the ended one", nil)).To(MatchError(context.Canceled))
	})

	It("is dropped when the connection closes, so the context no longer refers to the client", func() {
		c, theirs := pipe()
		go echoPeer(theirs)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var n int
		Expect(c.Call(ctx, "echo", 1, &n)).To(Succeed())
		Expect(c.Call(ctx, "echo", 1, &n)).To(Succeed())
		c.watch.mu.Lock()
		kept := c.watch.stop != nil
		c.watch.mu.Unlock()
		Expect(kept).To(BeTrue(), "kept between calls under ctx")
		Expect(c.Close()).To(Succeed())
		c.watch.mu.Lock()
		defer c.watch.mu.Unlock()
		Expect(c.watch.stop).To(BeNil())
	})
})

// awaitSettled waits for the call cancelled in the background to end:
// settled is nil once it has (and a receive on nil would never return).
func awaitSettled(c *Client) {
	if done := c.settled(); done != nil {
		<-done
	}
}

func errString(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}
