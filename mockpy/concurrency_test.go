package mockpy_test

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/mockpy"
	"github.com/pyharness/pyharness/wire"
)

var _ = Describe("A mock with WithConcurrency", func() {
	var (
		clock *clockwork.FakeClock
		ctx   context.Context
	)
	BeforeEach(func() {
		clock = clockwork.NewFakeClock()
		ctx = context.Background()
	})

	// naps makes n calls of "nap" (100 ms on the fake clock) at once and
	// returns their results as they end.
	naps := func(py *mockpy.Interpreter, n int) <-chan error {
		py.RouteToHandler("nap", py.Delay(100*time.Millisecond, mockpy.Respond("rested")))
		results := make(chan error, n)
		for range n {
			go func() { results <- py.Call(ctx, "nap", nil, nil) }()
		}
		return results
	}

	It("overlaps up to n handlers: two 100 ms naps with n=2 both end at +100 ms", func() {
		py := mockpy.New(mockpy.WithClock(clock), mockpy.WithConcurrency(2))
		start := clock.Now()
		results := naps(py, 2)
		Expect(clock.BlockUntilContext(ctx, 2)).To(Succeed(), "both handlers run at once")
		clock.Advance(100 * time.Millisecond)
		Eventually(results).Should(Receive(BeNil()))
		Eventually(results).Should(Receive(BeNil()))
		calls := py.Calls()
		Expect(calls).To(HaveLen(2))
		for _, c := range calls {
			Expect(c.Started).To(Equal(start))
			Expect(c.Ended).To(Equal(start.Add(100 * time.Millisecond)))
		}
	})

	It("queues calls beyond n in the order they came: with n=1 the second nap ends at +200 ms", func() {
		py := mockpy.New(mockpy.WithClock(clock), mockpy.WithConcurrency(1))
		start := clock.Now()
		results := naps(py, 2)
		Expect(clock.BlockUntilContext(ctx, 1)).To(Succeed())
		Consistently(func() int { return len(py.Calls()) }).Should(Equal(1), "the second call waits its turn")
		clock.Advance(100 * time.Millisecond)
		Eventually(results).Should(Receive(BeNil()))
		Expect(clock.BlockUntilContext(ctx, 1)).To(Succeed())
		clock.Advance(100 * time.Millisecond)
		Eventually(results).Should(Receive(BeNil()))
		calls := py.Calls()
		Expect(calls[1].Started).To(Equal(start.Add(100 * time.Millisecond)))
		Expect(calls[1].Ended).To(Equal(start.Add(200 * time.Millisecond)))
	})

	It("serves waiting calls first come, first served", func() {
		py := mockpy.New(mockpy.WithConcurrency(1))
		release := make(chan struct{})
		py.RouteToHandler("block", func(context.Context, mockpy.Call) (any, error) { <-release; return nil, nil })
		py.RouteToHandler("echo", func(_ context.Context, c mockpy.Call) (any, error) { return c.Value(), nil })
		done := make(chan error, 6)
		go func() { done <- py.Call(ctx, "block", nil, nil) }()
		Eventually(py.Calls).Should(HaveLen(1))
		for i := range 5 {
			go func() { done <- py.Call(ctx, "echo", i, nil) }()
			Eventually(func() int { return mockpy.WaitingTurns(py) }).Should(Equal(i+1), "call %d waits", i) // queued in this order
		}
		close(release)
		for range 6 {
			Eventually(done).Should(Receive(BeNil()))
		}
		var order []any
		for _, c := range py.Calls()[1:] {
			order = append(order, c.Value())
		}
		Expect(order).To(Equal([]any{0, 1, 2, 3, 4}))
	})

	It("keeps the history in completion order, with the start order in Seq", func() {
		py := mockpy.New(mockpy.WithConcurrency(2))
		first, second := make(chan struct{}), make(chan struct{})
		py.AppendHandlers(
			func(context.Context, mockpy.Call) (any, error) { <-first; return "first", nil },
			func(context.Context, mockpy.Call) (any, error) { <-second; return "second", nil },
		)
		done := make(chan error, 2)
		go func() { done <- py.Call(ctx, "a", nil, nil) }()
		Eventually(py.Calls).Should(HaveLen(1))
		go func() { done <- py.Call(ctx, "b", nil, nil) }()
		Eventually(py.Calls).Should(HaveLen(2))
		Expect(py.Calls()[0].Ended.IsZero()).To(BeTrue(), "a running call has no end yet")
		close(second)
		Eventually(done).Should(Receive(BeNil()))
		close(first)
		Eventually(done).Should(Receive(BeNil()))
		calls := py.Calls()
		Expect([]string{calls[0].Method, calls[1].Method}).To(Equal([]string{"b", "a"}), "in the order they ended")
		Expect([]int{calls[0].Seq, calls[1].Seq}).To(Equal([]int{2, 1}), "Seq keeps the order they started")
	})

	It("cancels only the call whose context ends", func() {
		py := mockpy.New(mockpy.WithConcurrency(4))
		py.RouteToHandler("nap", mockpy.Cancellable(func(ctx context.Context, _ mockpy.Call) (any, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}))
		release := make(chan struct{})
		py.RouteToHandler("work", func(context.Context, mockpy.Call) (any, error) { <-release; return "done", nil })
		cctx, cancel := context.WithCancel(ctx)
		napped := make(chan error, 1)
		go func() { napped <- py.Call(cctx, "nap", nil, nil) }()
		worked := make(chan string, 3)
		for range 3 {
			go func() {
				var got string
				_ = py.Call(ctx, "work", nil, &got)
				worked <- got
			}()
		}
		Eventually(py.Calls).Should(HaveLen(4))
		cancel()
		Eventually(napped).Should(Receive(MatchError(context.Canceled)))
		Consistently(worked).ShouldNot(Receive(), "the others still run")
		close(release)
		for range 3 {
			Eventually(worked).Should(Receive(Equal("done")))
		}
		Expect(py.Call(ctx, "echo", 1, nil)).To(Succeed(), "a cancelled async handler leaves the mock alive")
	})

	It("gives up a waiting call whose context ends, without reaching a handler", func() {
		py := mockpy.New(mockpy.WithConcurrency(1))
		release := make(chan struct{})
		py.RouteToHandler("block", func(context.Context, mockpy.Call) (any, error) { <-release; return nil, nil })
		done := make(chan error, 1)
		go func() { done <- py.Call(ctx, "block", nil, nil) }()
		Eventually(py.Calls).Should(HaveLen(1))
		short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		err := py.Call(short, "echo", 1, nil)
		Expect(err).To(MatchError(context.DeadlineExceeded))
		Expect(err).To(MatchError(ContainSubstring("waiting for its turn")))
		Expect(py.CallsTo("echo")).To(BeEmpty())
		close(release)
		Eventually(done).Should(Receive(BeNil()))
		Expect(py.Call(ctx, "echo", 1, nil)).To(Succeed())
	})

	It("fails every call running, and every call waiting, when one crashes", func() {
		py := mockpy.New(mockpy.WithConcurrency(3))
		py.RouteToHandler("wait", func(ctx context.Context, _ mockpy.Call) (any, error) { <-ctx.Done(); return nil, ctx.Err() })
		py.RouteToHandler("ignore", mockpy.Respond("never seen"))
		results := make(chan error, 3)
		for range 2 {
			go func() { results <- py.Call(ctx, "wait", nil, nil) }()
		}
		Eventually(py.Calls).Should(HaveLen(2))
		blocker := make(chan struct{})
		py.RouteToHandler("crash_later", func(context.Context, mockpy.Call) (any, error) {
			<-blocker
			return nil, &wire.WorkerExitedError{Code: 3}
		})
		go func() { results <- py.Call(ctx, "crash_later", nil, nil) }()
		Eventually(py.Calls).Should(HaveLen(3))
		waiting := make(chan error, 1)
		go func() { waiting <- py.Call(ctx, "ignore", nil, nil) }()
		Eventually(func() int { return mockpy.WaitingTurns(py) }).Should(Equal(1), "the fourth call waits its turn")
		close(blocker)
		for range 3 {
			Eventually(results).Should(Receive(MatchError(ContainSubstring("exited with code 3"))))
		}
		Eventually(waiting).Should(Receive(MatchError(wire.ErrWorkerExited)))
		Expect(py.CallsTo("ignore")).To(BeEmpty())
	})

	It("answers ping at once while n calls run, and says it multiplexes", func() {
		py := mockpy.New(mockpy.WithConcurrency(2))
		release := make(chan struct{})
		defer close(release)
		py.RouteToHandler("block", func(context.Context, mockpy.Call) (any, error) { <-release; return nil, nil })
		for range 2 {
			go func() { _ = py.Call(ctx, "block", nil, nil) }()
		}
		Eventually(py.Calls).Should(HaveLen(2))
		var hello struct {
			Features    []string `json:"features"`
			Concurrency int      `json:"concurrency"`
		}
		Expect(py.Call(ctx, "ping", nil, &hello)).To(Succeed())
		Expect(hello.Features).To(ContainElement("multiplex"))
		Expect(hello.Concurrency).To(Equal(2))
	})

	It("without the option says nothing of multiplexing, and bounds nothing", func() {
		py := mockpy.New()
		var hello map[string]json.RawMessage
		Expect(py.Call(ctx, "ping", nil, &hello)).To(Succeed())
		Expect(string(hello["features"])).NotTo(ContainSubstring("multiplex"))
		Expect(hello).NotTo(HaveKey("concurrency"))
		var wg sync.WaitGroup
		all := make(chan struct{})
		py.RouteToHandler("meet", func(context.Context, mockpy.Call) (any, error) { <-all; return nil, nil })
		for range 8 {
			wg.Add(1)
			go func() { defer wg.Done(); _ = py.Call(ctx, "meet", nil, nil) }()
		}
		Eventually(func() []mockpy.Call { return py.CallsTo("meet") }).Should(HaveLen(8), "all eight run at once")
		close(all)
		wg.Wait()
	})
})
