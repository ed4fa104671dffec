package mockpy_test

import (
	"context"
	"encoding/json"
	"net"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/mockpy"
	"github.com/pyharness/pyharness/wire"
)

// frames is the wire fake seen from the client's side, frame by frame.
type frames struct {
	conn    net.Conn
	replies chan *wire.Response
}

func dial(py *mockpy.Interpreter) *frames {
	f := &frames{conn: py.Pipe(), replies: make(chan *wire.Response, 64)}
	DeferCleanup(f.conn.Close)
	go func() {
		defer close(f.replies)
		for {
			payload, err := wire.ReadFrame(f.conn, wire.DefaultMaxFrame)
			if err != nil {
				return
			}
			resp, err := wire.DecodeResponse(payload)
			if err != nil {
				return
			}
			f.replies <- resp
		}
	}()
	return f
}

func (f *frames) send(id uint64, method string, args any) {
	GinkgoHelper()
	f.sendIn("", id, method, args)
}

// sendIn sends a request of a session ("" for none).
func (f *frames) sendIn(session string, id uint64, method string, args any) {
	GinkgoHelper()
	raw, err := json.Marshal(args)
	Expect(err).NotTo(HaveOccurred())
	payload, err := wire.EncodeRequest(wire.Request{ID: id, Method: method, Args: raw, Session: session})
	Expect(err).NotTo(HaveOccurred())
	Expect(wire.WriteFrame(f.conn, payload, wire.DefaultMaxFrame)).To(Succeed())
}

// sendBehind sends a request marked as written behind a running call.
func (f *frames) sendBehind(id uint64, method string, args any) {
	GinkgoHelper()
	raw, err := json.Marshal(args)
	Expect(err).NotTo(HaveOccurred())
	payload, err := wire.EncodeRequest(wire.Request{ID: id, Method: method, Args: raw, Behind: true})
	Expect(err).NotTo(HaveOccurred())
	Expect(wire.WriteFrame(f.conn, payload, wire.DefaultMaxFrame)).To(Succeed())
}

func (f *frames) control(id uint64, method string) {
	GinkgoHelper()
	payload, err := wire.AppendControl(nil, id, method, nil)
	Expect(err).NotTo(HaveOccurred())
	Expect(wire.WriteFrame(f.conn, payload, wire.DefaultMaxFrame)).To(Succeed())
}

// next is the next reply.
func (f *frames) next() *wire.Response {
	GinkgoHelper()
	var resp *wire.Response
	Eventually(f.replies).Should(Receive(&resp))
	Expect(resp).NotTo(BeNil(), "the connection ended")
	return resp
}

var _ = Describe("The wire fake", func() {
	var (
		release chan struct{}
		blocked chan struct{}
	)
	route := func(py *mockpy.Interpreter) *mockpy.Interpreter {
		release, blocked = make(chan struct{}), make(chan struct{}, 8)
		release, blocked := release, blocked
		py.RouteToHandler("block", mockpy.Cancellable(func(ctx context.Context, _ mockpy.Call) (any, error) {
			blocked <- struct{}{}
			select {
			case <-release:
				return "released", nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}))
		return py
	}

	It("lists pipeline, and answers a request written behind a call whose $cancel came before it started cancelled, in turn, without running it", func() {
		py := route(mockpy.New())
		ran := make(chan string, 4)
		py.RouteToHandler("note", func(_ context.Context, c mockpy.Call) (any, error) {
			ran <- string(c.Args)
			return "noted", nil
		})
		f := dial(py)
		f.send(1, "ping", nil)
		var hello struct {
			Features []string `json:"features"`
		}
		Expect(f.next().DecodeResult(&hello)).To(Succeed())
		Expect(hello.Features).To(ContainElement("pipeline"))
		f.send(2, "block", nil)
		Eventually(blocked).Should(Receive())
		f.sendBehind(3, "note", "cancelled")
		f.control(3, wire.ControlCancel)
		f.sendBehind(4, "note", "kept")
		close(release)
		Expect(f.next().ID).To(Equal(uint64(2)))
		cancelled := f.next()
		Expect(cancelled.ID).To(Equal(uint64(3)))
		Expect(cancelled.Error).To(HaveField("Kind", wire.KindCancelled))
		Expect(cancelled.Error).To(HaveField("Message", "cancelled by the caller before it started"))
		Expect(f.next().ID).To(Equal(uint64(4)))
		Expect(ran).To(Receive(Equal(`"kept"`)))
		Expect(ran).NotTo(Receive(), "the cancelled request never ran")
	})

	It("with WithConcurrency(n) lists multiplex and the concurrency in ping", func() {
		f := dial(route(mockpy.New(mockpy.WithConcurrency(3))))
		f.send(1, "ping", nil)
		var hello struct {
			Features    []string `json:"features"`
			Concurrency int      `json:"concurrency"`
		}
		resp := f.next()
		Expect(resp.DecodeResult(&hello)).To(Succeed())
		Expect(hello.Features).To(ContainElement("multiplex"))
		Expect(hello.Concurrency).To(Equal(3))
	})

	It("with WithConcurrency(n) answers a call that ends first first, pings at once, and cancels one call only", func() {
		f := dial(route(mockpy.New(mockpy.WithConcurrency(2))))
		f.send(1, "block", nil)
		Eventually(blocked).Should(Receive())
		f.send(2, "block", nil)
		Eventually(blocked).Should(Receive())
		f.send(3, "ping", nil)
		Expect(f.next().ID).To(Equal(uint64(3)), "a ping is answered while the calls run")
		f.send(4, "echo", "queued")
		Consistently(f.replies).ShouldNot(Receive(), "a third call waits for one of the two turns")
		f.control(1, wire.ControlCancel)
		cancelled := f.next()
		Expect(cancelled.ID).To(Equal(uint64(1)))
		Expect(cancelled.Error.Kind).To(Equal(wire.KindCancelled))
		Expect(f.next().ID).To(Equal(uint64(4)), "the queued call takes the freed turn, and ends before call 2")
		close(release)
		last := f.next()
		Expect(last.ID).To(Equal(uint64(2)), "the call not cancelled runs to its end")
		var got string
		Expect(last.DecodeResult(&got)).To(Succeed())
		Expect(got).To(Equal("released"))
	})

	It("with WithConcurrency(n) runs a session's request read after a $cancel once the cancelled call has ended", func() {
		py := route(mockpy.New(mockpy.WithConcurrency(4)))
		var ended []string
		var mu sync.Mutex
		unwind := make(chan struct{})
		py.RouteToHandler("nap", mockpy.Cancellable(func(ctx context.Context, _ mockpy.Call) (any, error) {
			blocked <- struct{}{}
			<-ctx.Done()
			<-unwind // a cancellation that takes its time
			mu.Lock()
			ended = append(ended, "nap")
			mu.Unlock()
			return nil, ctx.Err()
		}))
		py.RouteToHandler("ended", func(context.Context, mockpy.Call) (any, error) {
			mu.Lock()
			defer mu.Unlock()
			return append([]string{}, ended...), nil
		})
		f := dial(py)
		f.sendIn("s", 1, "nap", nil)
		Eventually(blocked).Should(Receive())
		f.control(1, wire.ControlCancel)
		f.sendIn("other", 2, "ended", nil)
		Expect(f.next().ID).To(Equal(uint64(2)), "another session's request does not wait")
		f.sendIn("s", 3, "ended", nil) // read once the write returns: the fake reads a pipe
		close(unwind)
		Expect(f.next().ID).To(Equal(uint64(1)))
		last := f.next()
		Expect(last.ID).To(Equal(uint64(3)))
		var got []string
		Expect(last.DecodeResult(&got)).To(Succeed())
		Expect(got).To(Equal([]string{"nap"}), "the session's next request ran after the cancelled call's end")
	})

	It("with WithConcurrency(n) ends the connection without answers when a call crashes", func() {
		f := dial(route(mockpy.New(mockpy.WithConcurrency(4))))
		f.send(1, "block", nil)
		f.send(2, "block", nil)
		Eventually(blocked).Should(Receive())
		Eventually(blocked).Should(Receive())
		f.send(3, "crash", map[string]int{"code": 3})
		Eventually(f.replies).Should(BeClosed(), "no call in flight is answered: the worker is gone")
	})

	It("by default serves one request at a time, in the order read, and lists no multiplex", func() {
		f := dial(route(mockpy.New()))
		f.send(1, "ping", nil)
		var hello map[string]json.RawMessage
		Expect(f.next().DecodeResult(&hello)).To(Succeed())
		Expect(string(hello["features"])).NotTo(ContainSubstring("multiplex"))
		f.send(2, "block", nil)
		Eventually(blocked).Should(Receive())
		f.send(3, "ping", nil)
		Consistently(f.replies).ShouldNot(Receive(), "a ping pipelined behind a call is served after it")
		close(release)
		Expect(f.next().ID).To(Equal(uint64(2)))
		Expect(f.next().ID).To(Equal(uint64(3)))
	})
})
