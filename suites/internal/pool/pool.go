package pool

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jonboulle/clockwork"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/internal/realpyx"
	"github.com/pyharness/pyharness/realpy"
	"github.com/pyharness/pyharness/wire"
)

const defaultEventTimeout = 30 * time.Second

var noHang = SpecTimeout(2 * time.Minute)

// pidOf asks the worker serving a call who it is.
func pidOf(ctx context.Context, p *realpy.Pool) int {
	GinkgoHelper()
	var hello realpy.Hello
	Expect(p.Call(ctx, "ping", nil, &hello)).To(Succeed())
	return hello.Pid
}

// busy occupies a worker of p with a sleep and returns once it runs, with the
// worker's pid and a channel that receives the call's result.
func busy(ctx context.Context, p *realpy.Pool, seconds float64) (int, chan error) {
	GinkgoHelper()
	done := make(chan error, 1)
	marker := fmt.Sprintf("busy-%d", rand.Int())
	go func() {
		done <- p.Call(ctx, "sleep", map[string]any{"seconds": seconds, "announce": marker}, nil)
	}()
	var pid int
	Eventually(func() bool {
		for _, w := range p.Workers() {
			if containsMarker(w, marker) {
				pid = w.Pid()
				return true
			}
		}
		return false
	}).Should(BeTrue())
	return pid, done
}

func containsMarker(w *realpy.Worker, marker string) bool {
	return bytesContains(w.Stdout().Contents(), marker)
}

// announced polls whether the worker of p with pid has printed marker (a
// handler saying it runs).
func announced(p *realpy.Pool, pid int, marker string) func() bool {
	return func() bool {
		for _, w := range p.Workers() {
			if w.Pid() == pid && containsMarker(w, marker) {
				return true
			}
		}
		return false
	}
}

var _ = describe("A warm pool", harness.Integration, harness.PythonReal, func() {
	for _, strategy := range []realpy.Strategy{realpy.Spawn, realpy.ZygoteFork} {
		It(fmt.Sprintf("starts all workers concurrently (%s) and spreads calls over them", strategy), func(ctx SpecContext) {
			p := startPool(ctx, realpy.WithSize(4), realpy.WithStrategy(strategy))
			Expect(p.Workers()).To(HaveLen(4))
			pids := map[int]bool{}
			for _, w := range p.Workers() {
				pids[w.Pid()] = true
			}
			Expect(pids).To(HaveLen(4))
			stats := p.Stats()
			if strategy == realpy.ZygoteFork {
				Expect(stats.Spawned).To(Equal(int64(1)), "one zygote")
				Expect(stats.Forked).To(Equal(int64(4)))
			} else {
				Expect(stats.Spawned).To(Equal(int64(4)))
				Expect(stats.Forked).To(BeZero())
			}
			Expect(p.Call(ctx, "echo", "hi", nil)).To(Succeed())
		}, noHang)
	}

	It("returns the pool and the joined errors when some workers fail to start", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		p, err := realpy.StartPool(ctx, realpy.WithSize(4), realpy.WithPythonPath(testdata()),
			realpy.WithModules("flaky_import"), realpy.WithEnv("FLAKY_DIR="+dir, "FLAKY_GOOD=2"))
		Expect(p).NotTo(BeNil())
		DeferCleanup(p.Close)
		Expect(err).To(MatchError(wire.ErrWorkerExited))
		Expect(err).To(MatchError(ContainSubstring("flaky import")))
		Expect(errors.Unwrap(err).(interface{ Unwrap() []error }).Unwrap()).To(HaveLen(2), "one error per failed worker")
		Expect(p.Workers()).To(HaveLen(2))
		Expect(p.Call(ctx, "ok", nil, nil)).To(Succeed())
	}, noHang)

	It("starts one worker in lazy mode, and no other for one caller at a time", func(ctx SpecContext) {
		p := startPool(ctx, realpy.WithSize(2), realpy.WithLazy())
		Expect(p.Stats()).To(And(HaveField("Spawned", int64(1)), HaveField("Forked", int64(0)), HaveField("Size", 1),
			HaveField("Busy", 0), HaveField("Starting", 0)))
		Expect(p.Call(ctx, "ping", nil, nil)).To(Succeed())
		Expect(p.Stats().Spawned).To(Equal(int64(1)))
		Expect(p.Workers()).To(HaveLen(1))
	}, noHang)

	for _, strategy := range []realpy.Strategy{realpy.Spawn, realpy.ZygoteFork} {
		It(fmt.Sprintf("keeps a killed worker's exit error after the pool replaced and closed it (%s)", strategy), func(ctx SpecContext) {
			p := startPool(ctx, realpy.WithSize(1), realpy.WithStrategy(strategy))
			sub := p.Subscribe()
			DeferCleanup(sub.Close)
			old := p.Workers()[0]
			Expect(old.Kill()).To(Succeed())
			Eventually(old.Exited()).Should(BeClosed())

			var before *wire.WorkerExitedError
			Expect(errors.As(old.Call(ctx, "echo", 1, nil), &before)).To(BeTrue(), "a call on the dead worker")
			Expect(before.Signal).To(Equal(syscall.SIGKILL))

			Expect(nextEvent(sub, realpy.EventReplaced).Replaces).To(Equal(old.ID()), "the pool closed the old worker and replaced it")
			Expect(old.Close()).To(Succeed())
			for range 3 {
				var after *wire.WorkerExitedError
				err := old.Call(ctx, "echo", 1, nil)
				Expect(errors.As(err, &after)).To(BeTrue(), "after the replacement: %v", err)
				Expect(after).To(BeIdenticalTo(before), "the same error, not wire.ErrClosed")
				Expect(err).NotTo(MatchError(wire.ErrClosed))
			}
			Expect(old.Err()).To(MatchError(before))
		}, noHang)
	}

	It("replaces a crashed worker with a new one and says so", func(ctx SpecContext) {
		p := startPool(ctx, realpy.WithSize(1))
		sub := p.Subscribe()
		DeferCleanup(sub.Close)
		old := p.Workers()[0]

		Expect(p.Call(ctx, "crash", map[string]int{"code": 3}, nil)).To(MatchError(wire.ErrWorkerExited))
		crashed := nextEvent(sub, realpy.EventCrashed)
		Expect(crashed.WorkerID).To(Equal(old.ID()))
		Expect(crashed.Cause).To(MatchError(wire.ErrWorkerExited))
		replaced := nextEvent(sub, realpy.EventReplaced)
		Expect(replaced.Replaces).To(Equal(old.ID()))
		Expect(replaced.Pid).NotTo(Equal(old.Pid()))
		Expect(pidOf(ctx, p)).To(Equal(replaced.Pid))
	}, noHang)

	It("kills a worker stuck in C code by its health check and replaces it", func(ctx SpecContext) {
		p := startPool(ctx, realpy.WithSize(1), realpy.WithHeartbeat(100*time.Millisecond, 3))
		sub := p.Subscribe()
		DeferCleanup(sub.Close)
		hung := p.Workers()[0]

		err := p.Call(ctx, "hang", map[string]bool{"in_c": true}, nil)
		Expect(err).To(MatchError(wire.ErrWorkerExited))
		Expect(err).To(MatchError(ContainSubstring("health check")))
		Expect(nextEvent(sub, realpy.EventCrashed).WorkerID).To(Equal(hung.ID()))
		Expect(nextEvent(sub, realpy.EventReplaced).Replaces).To(Equal(hung.ID()))
	}, noHang)

	It("does not kill a busy worker that answers its heartbeats", func(ctx SpecContext) {
		p := startPool(ctx, realpy.WithSize(1), realpy.WithHeartbeat(time.Second, 3))
		pid := pidOf(ctx, p)
		Expect(p.Call(ctx, "sleep", 0.3, nil)).To(Succeed())
		Expect(pidOf(ctx, p)).To(Equal(pid))
	}, noHang)

	Describe("session affinity", func() {
		It("hint: prefers the session's worker, and takes another when it is busy", func(ctx SpecContext) {
			p := startPool(ctx, realpy.WithSize(2), realpy.WithAffinity(realpy.AffinityHint))
			s := wire.WithSession(ctx, "user-1")
			first := pidOf(s, p)
			for range 5 {
				Expect(pidOf(s, p)).To(Equal(first))
			}
			done := make(chan error, 1)
			go func() { done <- p.Call(s, "sleep", map[string]any{"seconds": 0.5, "announce": "hint-busy"}, nil) }()
			Eventually(announced(p, first, "hint-busy")).Should(BeTrue())
			Expect(pidOf(s, p)).NotTo(Equal(first), "the busy session worker is passed over")
			Eventually(done).Should(Receive(BeNil()))
		}, noHang)

		It("strict-queue: waits for the session's worker", func(ctx SpecContext) {
			p := startPool(ctx, realpy.WithSize(2), realpy.WithAffinity(realpy.AffinityStrictQueue))
			s := wire.WithSession(ctx, "user-2")
			var cart []string
			Expect(p.Call(s, "echo", []string{"x"}, &cart)).To(Succeed())
			owner := pidOf(s, p)

			// Occupy the session's worker with a session call, then queue another.
			done := make(chan error, 1)
			go func() { done <- p.Call(s, "sleep", map[string]any{"seconds": 0.3, "announce": "owner-busy"}, nil) }()
			Eventually(announced(p, owner, "owner-busy")).Should(BeTrue())
			Expect(pidOf(s, p)).To(Equal(owner), "the queued call ran on the session's worker")
			Eventually(done).Should(Receive(BeNil()), "the call it queued behind succeeded")
		}, noHang)

		It("strict-fail-fast: fails at once when the session's worker is busy", func(ctx SpecContext) {
			p := startPool(ctx, realpy.WithSize(2), realpy.WithAffinity(realpy.AffinityStrictFailFast))
			s := wire.WithSession(ctx, "user-3")
			owner := pidOf(s, p)
			done := make(chan error, 1)
			go func() { done <- p.Call(s, "sleep", map[string]any{"seconds": 0.5, "announce": "ff-busy"}, nil) }()
			Eventually(announced(p, owner, "ff-busy")).Should(BeTrue())
			Expect(p.Call(s, "ping", nil, nil)).To(MatchError(realpy.ErrSessionBusy))
			Expect(p.Call(ctx, "ping", nil, nil)).To(Succeed(), "calls without the session still flow")
			Eventually(done).Should(Receive(BeNil()))
		}, noHang)

		DescribeTable("every affinity: a session's next call waits for its worker to end the call cancelled on it, and stays there",
			func(ctx SpecContext, affinity realpy.Affinity) {
				p := startPool(ctx, realpy.WithSize(2), realpy.WithAffinity(affinity), realpy.WithCancelGrace(5*time.Second))
				s := wire.WithSession(ctx, "user-4")
				owner := pidOf(s, p)
				callCtx, cancel := context.WithCancel(s)
				defer cancel()
				result := make(chan error, 1)
				go func() {
					result <- p.Call(callCtx, "sleep", map[string]any{"seconds": 0.3, "announce": "cancel-me"}, nil)
				}()
				Eventually(announced(p, owner, "cancel-me")).Should(BeTrue())
				cancel()
				Eventually(result).Should(Receive(MatchError(context.Canceled)), "the caller does not wait for the handler")
				Expect(pidOf(ctx, p)).NotTo(Equal(owner), "a call without the session takes the other worker meanwhile")
				Expect(pidOf(s, p)).To(Equal(owner), "the session's call waited for its worker instead of moving")
				Expect(pidOf(s, p)).To(Equal(owner), "and the session stays bound to it")
			},
			Entry("hint", realpy.AffinityHint, noHang),
			Entry("strict-queue", realpy.AffinityStrictQueue, noHang),
			Entry("strict-fail-fast", realpy.AffinityStrictFailFast, noHang))
	})

	It("opens the breaker on infrastructure failures, not on Python exceptions, and half-opens on the clock", func(ctx SpecContext) {
		clock := clockwork.NewFakeClock()
		p := startPool(ctx, realpy.WithSize(1), realpyx.WithClock[realpy.Option](clock),
			realpy.WithBreaker(realpy.BreakerSettings{Failures: 2, OpenFor: time.Minute}))
		for range 3 {
			Expect(p.Call(ctx, "fail", map[string]string{"type": "ValueError"}, nil)).To(MatchError(ContainSubstring("ValueError")))
		}
		Expect(p.BreakerState()).To(Equal(realpy.BreakerClosed), "exceptions are answers, not failures")

		Expect(p.Call(ctx, "crash", nil, nil)).To(MatchError(wire.ErrWorkerExited))
		Expect(p.BreakerState()).To(Equal(realpy.BreakerClosed))
		Expect(p.Call(ctx, "crash", nil, nil)).To(MatchError(wire.ErrWorkerExited))
		Expect(p.BreakerState()).To(Equal(realpy.BreakerOpen))
		spawned := p.Stats().Spawned
		Expect(p.Call(ctx, "ping", nil, nil)).To(MatchError(realpy.ErrBreakerOpen))

		clock.Advance(59 * time.Second)
		Expect(p.Call(ctx, "ping", nil, nil)).To(MatchError(realpy.ErrBreakerOpen))
		clock.Advance(time.Second)
		Expect(p.BreakerState()).To(Equal(realpy.BreakerHalfOpen))
		Expect(p.Call(ctx, "ping", nil, nil)).To(Succeed(), "a trial call")
		Expect(p.BreakerState()).To(Equal(realpy.BreakerClosed))
		Expect(p.Stats().Spawned).To(BeNumerically(">=", spawned))
	}, noHang)

	It("retries a call whose worker died, on the replacement", func(ctx SpecContext) {
		p := startPool(ctx, realpy.WithSize(1), realpy.WithRetry(1, time.Millisecond))
		sub := p.Subscribe()
		DeferCleanup(sub.Close)
		w := p.Workers()[0]
		done := make(chan error, 1)
		go func() { done <- p.Call(ctx, "sleep", map[string]any{"seconds": 0.2, "announce": "retry-me"}, nil) }()
		Eventually(w.Stdout().String).Should(ContainSubstring("retry-me"))
		Expect(w.Kill()).To(Succeed())

		Expect(nextEvent(sub, realpy.EventCrashed).WorkerID).To(Equal(w.ID()))
		replacement := nextEvent(sub, realpy.EventReplaced)
		Eventually(done).WithTimeout(defaultEventTimeout).Should(Receive(BeNil()), "the retry succeeded")
		Expect(pidOf(ctx, p)).To(Equal(replacement.Pid))
	}, noHang)

	It("starts overflow workers when all are busy and bounds the wait for a free one", func(ctx SpecContext) {
		p := startPool(ctx, realpy.WithSize(1), realpy.WithOverflow(1), realpy.WithCheckoutTimeout(300*time.Millisecond))
		sub := p.Subscribe()
		DeferCleanup(sub.Close)
		_, first := busy(ctx, p, 1)
		_, second := busy(ctx, p, 1)
		Expect(p.Stats().Spawned).To(Equal(int64(2)), "one overflow worker")

		err := p.Call(ctx, "ping", nil, nil)
		var timeout *realpy.CheckoutTimeoutError
		Expect(errors.As(err, &timeout)).To(BeTrue(), "got %v", err)
		Expect(err).To(MatchError(realpy.ErrPoolExhausted))
		Expect(timeout.Size).To(Equal(1))

		Eventually(first).WithTimeout(10 * time.Second).Should(Receive(BeNil()))
		Eventually(second).WithTimeout(10 * time.Second).Should(Receive(BeNil()))
		nextEvent(sub, realpy.EventStopped) // the overflow worker, dismissed
		Eventually(func() int { return len(p.Workers()) }).Should(Equal(1))
	}, noHang)

	It("serves calls waiting for a worker first come, first served", func(ctx SpecContext) {
		p := startPool(ctx, realpy.WithSize(1))
		w := p.Workers()[0]
		held := make(chan error, 1)
		go func() { held <- p.Call(ctx, "sleep", map[string]any{"seconds": 0.5, "announce": "holding"}, nil) }()
		Eventually(w.Stdout().String).Should(ContainSubstring("holding"))
		done := make(chan error, 5)
		for i := 1; i <= 5; i++ {
			go func() { done <- p.Call(ctx, "print", map[string]string{"stdout": fmt.Sprintf("served %d", i)}, nil) }()
			Eventually(p.Waiting).Should(Equal(i), "call %d queued behind the %d before it", i, i-1)
		}
		Eventually(held).Should(Receive(BeNil()))
		for range 5 {
			Eventually(done).Should(Receive(BeNil()))
		}
		Expect(regexp.MustCompile(`served (\d)`).FindAllStringSubmatch(w.Stdout().String(), -1)).To(Equal([][]string{
			{"served 1", "1"}, {"served 2", "2"}, {"served 3", "3"}, {"served 4", "4"}, {"served 5", "5"}}), "the worker served them in arrival order")
	}, noHang)

	DescribeTable("gives every call its own answer under 64 goroutines x 200 calls and random kills", func(ctx SpecContext, opts ...realpy.Option) {
		p := startPool(ctx, append([]realpy.Option{realpy.WithSize(4), realpy.WithStrategy(realpy.ZygoteFork)}, opts...)...)
		var ok, failed, completed atomic.Int64
		var wg sync.WaitGroup
		killEvery := func() { // a kill after every 500 completed calls, from the caller that completes it
			if completed.Add(1)%500 == 0 {
				if ws := p.Workers(); len(ws) > 0 {
					_ = ws[rand.IntN(len(ws))].Kill()
				}
			}
		}
		errs := make(chan error, 64*200)
		for g := range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 200 {
					want := map[string]int{"g": g, "i": i}
					var got map[string]int
					err := p.Call(ctx, "echo", want, &got)
					killEvery()
					switch {
					case err == nil && got["g"] == g && got["i"] == i:
						ok.Add(1)
					case err == nil:
						errs <- fmt.Errorf("goroutine %d call %d got the answer %v", g, i, got)
					case errors.Is(err, wire.ErrWorkerExited):
						failed.Add(1)
					default:
						errs <- fmt.Errorf("untyped failure: %w", err)
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		var wrong []string
		for err := range errs {
			wrong = append(wrong, err.Error())
		}
		Expect(wrong).To(BeEmpty())
		Expect(ok.Load() + failed.Load()).To(Equal(int64(64 * 200)))
		Expect(failed.Load()).To(BeNumerically(">", 0), "kills did hit calls in flight")
		AddReportEntry("calls", fmt.Sprintf("%d ok, %d failed with ErrWorkerExited", ok.Load(), failed.Load()))
	},
		Entry("one call at a time per worker", noHang),
		Entry("WithPipelining: a call behind each running one", noHang, realpy.WithPipelining()),
	)

	It("restarts a dead zygote and refills the pool from it", func(ctx SpecContext) {
		p := startPool(ctx, realpy.WithSize(2), realpy.WithStrategy(realpy.ZygoteFork))
		sub := p.Subscribe()
		DeferCleanup(sub.Close)
		old := p.Zygote()
		Expect(syscall.Kill(old.Pid(), syscall.SIGKILL)).To(Succeed())

		restarted := nextEvent(sub, realpy.EventZygote)
		Expect(restarted.Cause).NotTo(HaveOccurred())
		nextEvent(sub, realpy.EventReplaced)
		nextEvent(sub, realpy.EventReplaced)
		Expect(p.Zygote().Pid()).NotTo(Equal(old.Pid()))
		Expect(p.Call(ctx, "ping", nil, nil)).To(Succeed())
		Expect(p.Stats().Spawned).To(Equal(int64(2)), "two zygotes in all")
	}, noHang)

	It("hands out fresh private workers", func(ctx SpecContext) {
		for _, strategy := range []realpy.Strategy{realpy.Spawn, realpy.ZygoteFork} {
			opts := []realpy.Option{realpy.WithSize(1), realpy.WithStrategy(strategy), realpy.WithModules("numeric")}
			if strategy == realpy.ZygoteFork {
				opts = append(opts, realpy.WithPreload("random"))
			}
			p := startPool(ctx, opts...)
			a, err := p.Fresh(ctx)
			Expect(err).NotTo(HaveOccurred())
			b, err := p.Fresh(ctx)
			Expect(err).NotTo(HaveOccurred())
			Expect(a.Pid()).NotTo(Equal(b.Pid()))
			var x, y float64
			Expect(a.Call(ctx, "draw", nil, &x)).To(Succeed())
			Expect(b.Call(ctx, "draw", nil, &y)).To(Succeed())
			Expect(x).NotTo(Equal(y), "forked workers are reseeded")
			Expect(a.Close()).To(Succeed())
			Expect(b.Close()).To(Succeed())
			Expect(p.Workers()).To(HaveLen(1), "fresh workers are not pool members")
		}
	}, noHang)

	It("captures each forked worker's own stdout and stderr", func(ctx SpecContext) {
		out := gbytes.NewBuffer()
		p := startPool(ctx, realpy.WithSize(1), realpy.WithStrategy(realpy.ZygoteFork), realpy.WithOutput(out))
		a, err := p.Fresh(ctx)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(a.Close)
		b, err := p.Fresh(ctx)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(b.Close)

		Expect(a.Call(ctx, "print", map[string]string{"stdout": "from a", "stderr": "warning a"}, nil)).To(Succeed())
		Expect(b.Call(ctx, "print", map[string]string{"stdout": "from b"}, nil)).To(Succeed())
		Eventually(a.Stdout().String).Should(ContainSubstring("from a"))
		Eventually(a.Stderr().String).Should(ContainSubstring("warning a"))
		Eventually(b.Stdout().String).Should(ContainSubstring("from b"))
		Expect(a.Stdout().Contents()).NotTo(ContainSubstring("from b"), "each worker has its own")
		Eventually(out).Should(gbytes.Say(regexp.QuoteMeta("[" + a.ID() + " stdout] from a")))

		Expect(a.Call(ctx, "crash", map[string]any{"code": 4, "stderr": "dying words"}, nil)).To(MatchError(ContainSubstring("dying words")))
	}, noHang)

	It("fails calls after Close with ErrClosed", func(ctx SpecContext) {
		p := startPool(ctx, realpy.WithSize(2))
		Expect(p.Close()).To(Succeed())
		Expect(p.Call(ctx, "ping", nil, nil)).To(MatchError(wire.ErrClosed))
		_, err := p.Fresh(ctx)
		Expect(err).To(MatchError(wire.ErrClosed))
	}, noHang)
})
