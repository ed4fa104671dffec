package pool

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/realpy"
	"github.com/pyharness/pyharness/wire"
)

var _ = describe("A pool with WithPipelining", harness.Integration, harness.PythonReal, func() {
	var h *holds
	BeforeEach(func() {
		h = newHolds()
		DeferCleanup(h.wait) // after the pool's Close (cleanups run last in, first out)
	})
	noted := func(ctx context.Context, p *realpy.Pool) []string {
		GinkgoHelper()
		var got []string
		Expect(p.Call(ctx, "noted", nil, &got)).To(Succeed())
		return got
	}

	It("takes an idle worker first, and writes a call behind a busy one only when none is idle", func(ctx SpecContext) {
		p := startPool(ctx, realpy.WithModules("held_pipe"), realpy.WithSize(2), realpy.WithPipelining(), h.callback())
		h.call(ctx, p, "a")
		first := h.next()
		h.call(ctx, p, "b")
		second := h.next()
		Expect(second.Pid).NotTo(Equal(first.Pid), "the second call takes the idle worker")
		Expect(p.Stats()).To(And(HaveField("Busy", 2), HaveField("InFlight", 2)))

		h.call(ctx, p, "c")
		h.call(ctx, p, "d")
		Eventually(func() int { return p.Stats().InFlight }).Should(Equal(4), "one call behind each busy worker")
		Expect(p.Waiting()).To(Equal(0))
		h.release("a")
		h.release("b")
		behind := map[string]int{}
		for range 2 {
			c := h.next()
			behind[c.Tag] = c.Pid
		}
		Expect(behind).To(HaveKey("c"))
		Expect(behind).To(HaveKey("d"))
		Expect(behind["c"]).NotTo(Equal(behind["d"]), "each ran on the worker it waited behind")
		h.release("c")
		h.release("d")
		h.wait()
		Expect(p.Stats()).To(And(HaveField("Busy", 0), HaveField("InFlight", 0)))
	}, SpecTimeout(time.Minute))

	It("keeps one call behind each worker and hands places out first come, first served", func(ctx SpecContext) {
		p := startPool(ctx, realpy.WithModules("held_pipe"), realpy.WithSize(1), realpy.WithPipelining(), h.callback())
		h.call(ctx, p, "a")
		pid := h.next().Pid
		h.call(ctx, p, "b")
		Eventually(func() int { return p.Stats().InFlight }).Should(Equal(2), "b is written behind a")
		for i, tag := range []string{"w1", "w2"} {
			h.call(ctx, p, tag)
			Eventually(p.Waiting).Should(Equal(i+1), "%s waits its turn", tag) // queued in this order
		}
		for _, next := range []string{"b", "w1", "w2"} {
			h.release(map[string]string{"b": "a", "w1": "b", "w2": "w1"}[next])
			Expect(h.next()).To(Equal(heldCall{Tag: next, Pid: pid}))
		}
		h.release("w2")
		h.wait()
		Expect(p.Stats()).To(And(HaveField("InFlight", 0), HaveField("Spawned", int64(1))))
	})

	DescribeTable("answers a call whose context ends while it waits behind cancelled, without running it, and keeps the worker",
		func(ctx SpecContext, front func(context.Context, *realpy.Pool) (release func())) {
			p := startPool(ctx, realpy.WithModules("held_pipe"), realpy.WithSize(1), realpy.WithPipelining(),
				realpy.WithCancelGrace(5*time.Second), h.callback())
			release := front(ctx, p)
			callCtx, cancel := context.WithCancel(ctx)
			result := make(chan error, 1)
			go func() { result <- p.Call(callCtx, "note", "behind", nil) }()
			Eventually(func() int { return p.Stats().InFlight }).Should(Equal(2), "the call is written behind")
			cancel()
			var err error
			Eventually(result).Should(Receive(&err), "the caller does not wait for the call in front")
			Expect(err).To(MatchError(context.Canceled))
			Expect(err).To(MatchError(ContainSubstring("its request already sent (pipelined): the worker was sent $cancel")))
			release()
			Expect(p.Call(ctx, "note", "after", nil)).To(Succeed())
			Expect(noted(ctx, p)).To(Equal([]string{"after"}), "the cancelled call never ran")
			Expect(p.Stats()).To(And(HaveField("Spawned", int64(1)), HaveField("Size", 1)), "the worker was kept")
		},
		Entry("behind a call that reads frames while it runs (a call into Go): its $cancel is kept for it", func(ctx context.Context, p *realpy.Pool) func() {
			h.call(ctx, p, "front")
			h.next()
			return func() { h.release("front"); h.wait() }
		}, SpecTimeout(time.Minute)),
		Entry("behind a plain call that reads none: the worker looks for its $cancel before it starts it", func(ctx context.Context, p *realpy.Pool) func() {
			path := filepath.Join(GinkgoT().TempDir(), "gate")
			Expect(syscall.Mkfifo(path, 0o600)).To(Succeed())
			done := make(chan error, 1)
			go func() {
				var back string
				done <- p.Call(ctx, "fifo", path, &back)
			}()
			gate, err := os.OpenFile(path, os.O_WRONLY, 0) // returns once the call has opened it: it runs
			Expect(err).NotTo(HaveOccurred())
			return func() {
				Expect(gate.Close()).To(Succeed())
				Eventually(done).Should(Receive(BeNil()))
			}
		}, SpecTimeout(time.Minute)),
	)

	It("fails the running call and the one behind it when the worker dies, and heals", func(ctx SpecContext) {
		p := startPool(ctx, realpy.WithModules("held_pipe"), realpy.WithSize(1), realpy.WithPipelining(), h.callback())
		running := make(chan error, 1)
		go func() { running <- p.Call(ctx, "hold", "doomed", nil) }()
		victim := h.next().Pid
		behind := make(chan error, 1)
		go func() { behind <- p.Call(ctx, "note", "behind", nil) }()
		Eventually(func() int { return p.Stats().InFlight }).Should(Equal(2), "the call is written behind")
		Expect(syscall.Kill(victim, syscall.SIGKILL)).To(Succeed())
		Eventually(running).Should(Receive(MatchError(wire.ErrWorkerExited)))
		Eventually(behind).Should(Receive(MatchError(wire.ErrWorkerExited)), "the call behind is not left waiting")
		h.release("doomed")
		var got string
		Eventually(func() error { return p.Call(ctx, "note", "after", &got) }).Should(Succeed(), "the pool heals")
		Expect(pidOf(ctx, p)).NotTo(Equal(victim))
		Expect(noted(ctx, p)).To(Equal([]string{"after"}), "the replacement ran only the call made after")
	}, SpecTimeout(time.Minute))

	It("counts a busy worker as busy for its session: under AffinityHint the session's call takes an idle worker, under AffinityStrictFailFast it fails fast", func(ctx SpecContext) {
		hint := startPool(ctx, realpy.WithModules("held_pipe"), realpy.WithSize(2), realpy.WithPipelining(), h.callback())
		session := wire.WithSession(ctx, "pipelined-session")
		h.call(session, hint, "owner")
		owner := h.next().Pid
		h.call(session, hint, "moved")
		Expect(h.next().Pid).NotTo(Equal(owner), "the session's call took the idle worker instead of waiting behind its own")

		strict := startPool(ctx, realpy.WithModules("held_pipe"), realpy.WithSize(2), realpy.WithPipelining(),
			realpy.WithAffinity(realpy.AffinityStrictFailFast), h.callback())
		h.call(session, strict, "strict-owner")
		h.next()
		Expect(strict.Call(session, "note", "x", nil)).To(MatchError(realpy.ErrSessionBusy))
		for _, tag := range []string{"owner", "moved", "strict-owner"} {
			h.release(tag)
		}
		h.wait()
	}, SpecTimeout(time.Minute))

	It("serves a call that comes while a stream runs after the stream, the stream whole", func(ctx SpecContext) {
		p := startPool(ctx, realpy.WithModules("held_pipe"), realpy.WithSize(1), realpy.WithPipelining(), realpy.WithStreamWindow(1))
		result := make(chan error, 1)
		var items [][]string
		for raw, err := range p.Stream(ctx, "noted_items", 3) {
			Expect(err).NotTo(HaveOccurred())
			var item []string
			Expect(json.Unmarshal(raw, &item)).To(Succeed())
			items = append(items, item)
			if len(items) == 1 {
				go func() { result <- p.Call(ctx, "note", "during", nil) }()
				Eventually(func() int { return p.Stats().InFlight }).Should(Equal(2), "the call has its place on the worker")
			}
		}
		Expect(items).To(Equal([][]string{{}, {}, {}}), "the call ran after the stream")
		Eventually(result).Should(Receive(BeNil()))
		Expect(noted(ctx, p)).To(Equal([]string{"during"}))
	}, SpecTimeout(time.Minute))
})
