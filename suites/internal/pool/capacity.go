package pool

import (
	"context"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/realpy"
	"github.com/pyharness/pyharness/wire"
)

// holds is the Go side of held_async.py's hold: each call says which
// worker runs it, then waits until the spec releases its tag.
type holds struct {
	mu       sync.Mutex
	started  chan heldCall
	releases map[string]chan struct{}
	calls    sync.WaitGroup // the calls of call, still running
}

type heldCall struct {
	Tag string `json:"tag"`
	Pid int    `json:"pid"`
}

func newHolds() *holds {
	return &holds{started: make(chan heldCall, 64), releases: map[string]chan struct{}{}}
}

func (h *holds) gate(tag string) chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.releases[tag] == nil {
		h.releases[tag] = make(chan struct{})
	}
	return h.releases[tag]
}

func (h *holds) callback() realpy.Option {
	return realpy.WithCallback("hold", wire.CallbackFunc(func(ctx context.Context, call heldCall) (any, error) {
		h.started <- call
		select {
		case <-h.gate(call.Tag):
		case <-ctx.Done():
		}
		return nil, nil
	}))
}

func (h *holds) release(tag string) { close(h.gate(tag)) }

// call calls "hold" with tag on p from a goroutine of its own (wait waits
// for them all).
func (h *holds) call(ctx context.Context, p *realpy.Pool, tag string) {
	h.calls.Go(func() {
		defer GinkgoRecover()
		Expect(p.Call(ctx, "hold", tag, nil)).To(Succeed())
	})
}

func (h *holds) wait() { h.calls.Wait() }

// next is the next call to start.
func (h *holds) next() heldCall {
	GinkgoHelper()
	var c heldCall
	Eventually(h.started).Should(Receive(&c))
	return c
}

var _ = describe("A pool of workers with WithConcurrency counts capacity, not workers (#26)", harness.Integration, harness.PythonReal, func() {
	var h *holds
	BeforeEach(func() {
		h = newHolds()
		DeferCleanup(h.wait) // after the pool's Close (cleanups run last in, first out)
	})

	It("fills one worker up to n calls before it hands out another", func(ctx SpecContext) {
		p := startPool(ctx, realpy.WithModules("held_async"), realpy.WithSize(2), realpy.WithConcurrency(3), h.callback())
		Expect(p.Workers()).To(HaveLen(2))
		pids := map[int]int{}
		for _, tag := range []string{"a", "b", "c"} {
			h.call(ctx, p, tag)
			pids[h.next().Pid]++
		}
		Expect(pids).To(HaveLen(1), "three calls on one worker: %v", pids)
		Expect(p.Stats()).To(And(HaveField("Busy", 1), HaveField("InFlight", 3)))

		h.call(ctx, p, "d")
		fourth := h.next()
		Expect(pids).NotTo(HaveKey(fourth.Pid), "the fourth call goes to the other worker")
		Expect(p.Stats()).To(And(HaveField("Busy", 2), HaveField("InFlight", 4)))
		for _, tag := range []string{"a", "b", "c", "d"} {
			h.release(tag)
		}
		h.wait()
		Expect(p.Stats()).To(And(HaveField("Busy", 0), HaveField("InFlight", 0)))
	}, SpecTimeout(time.Minute))

	It("serves the calls waiting beyond its capacity first come, first served", func(ctx SpecContext) {
		p := startPool(ctx, realpy.WithModules("held_async"), realpy.WithSize(1), realpy.WithConcurrency(2), h.callback())
		h.call(ctx, p, "a")
		h.call(ctx, p, "b")
		h.next()
		h.next()
		for i, tag := range []string{"w1", "w2", "w3"} {
			h.call(ctx, p, tag)
			Eventually(p.Waiting).Should(Equal(i+1), "%s waits its turn", tag) // queued in this order
		}
		h.release("a")
		Expect(h.next().Tag).To(Equal("w1"))
		h.release("b")
		Expect(h.next().Tag).To(Equal("w2"))
		h.release("w1")
		Expect(h.next().Tag).To(Equal("w3"))
		for _, tag := range []string{"w2", "w3"} {
			h.release(tag)
		}
		h.wait()
		Expect(p.Stats()).To(HaveField("InFlight", 0))
	}, SpecTimeout(time.Minute))

	It("keeps a session on its worker under AffinityStrictQueue, waiting for room there while another worker is idle", func(ctx SpecContext) {
		p := startPool(ctx, realpy.WithModules("held_async"), realpy.WithSize(2), realpy.WithConcurrency(2),
			realpy.WithAffinity(realpy.AffinityStrictQueue), h.callback())
		session := wire.WithSession(ctx, "agent-1")
		h.call(session, p, "s1")
		owner := h.next().Pid
		h.call(session, p, "s2")
		Expect(h.next().Pid).To(Equal(owner), "the session's second call overlaps the first on its worker")
		h.call(session, p, "s3")
		Eventually(p.Waiting).Should(Equal(1), "the third waits for room on the session's worker")
		Expect(p.Stats()).To(HaveField("Busy", 1), "the other worker stays idle")
		h.release("s1")
		Expect(h.next()).To(Equal(heldCall{Tag: "s3", Pid: owner}))
		for _, tag := range []string{"s2", "s3"} {
			h.release(tag)
		}
		h.wait()
		Expect(p.Stats()).To(HaveField("InFlight", 0))
	}, SpecTimeout(time.Minute))
})
