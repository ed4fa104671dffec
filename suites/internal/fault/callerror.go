package fault

import (
	"context"
	"errors"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness"
	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/realpy"
)

var _ = describe("A call ended by its deadline during another call's cancel grace", harness.Integration, harness.PythonReal, func() {
	// cancelSleep starts a plain handler that sleeps (it cannot be
	// interrupted), cancels it once it runs, and returns the cancelled
	// call's error: the worker then ends it within its cancel grace.
	cancelSleep := func(ctx SpecContext, caller pyharness.Caller, announced func() string) error {
		GinkgoHelper()
		callCtx, cancel := context.WithCancel(ctx)
		result := make(chan error, 1)
		go func() {
			defer GinkgoRecover()
			result <- caller.Call(callCtx, "sleep", map[string]any{"seconds": 1, "announce": "sleeping now"}, nil)
		}()
		Eventually(announced).Should(ContainSubstring("sleeping now"))
		cancel()
		var err error
		Eventually(result).Should(Receive(&err))
		return err
	}

	It("on a worker: is typed, and names the method, the worker, its deadline and the grace it waited on", func(ctx SpecContext) {
		w := startWorker(ctx, realpy.WithCancelGrace(time.Minute))
		cancelled := cancelSleep(ctx, w, w.Stdout().String)
		Expect(cancelled).To(MatchError(context.Canceled))
		Expect(cancelled.Error()).To(MatchRegexp(`^realpy: worker %s \(pid %d\): call "sleep": context canceled after [\d.]+(µs|ms|s) \(its context was cancelled\), `+
			`while the worker ran it: the worker was sent \$cancel, and is kept if it ends the call within its cancel grace \(1m0s\)$`, w.ID(), w.Pid()))

		callCtx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		err := w.Call(callCtx, "echo", "x", nil)
		Expect(errors.Is(err, context.DeadlineExceeded)).To(BeTrue(), "errors.Is still holds: %v", err)
		var ce *realpy.CallError
		Expect(errors.As(err, &ce)).To(BeTrue(), "typed: %#v", err)
		Expect(ce.Method).To(Equal("echo"))
		Expect(ce.Worker).To(ContainSubstring(w.ID()))
		Expect(err.Error()).To(MatchRegexp(`^realpy: worker %s \(pid %d\): call "echo": context deadline exceeded after \d+ms \(the deadline of its context, (9\d|100)ms from the call\), `+
			`waiting for its turn: the worker was ending a cancelled call "sleep" within its cancel grace \(1m0s\)$`, w.ID(), w.Pid()))
	}, noHang)

	It("on a pool: is typed, and names the method, the worker it waited for, its deadline and the grace", func(ctx SpecContext) {
		p, err := realpy.StartPool(ctx, realpy.WithSize(1), realpy.WithOutput(GinkgoWriter), realpy.WithPythonPath(testdataDir()),
			realpy.WithModules("faulty_handlers"), realpy.WithCancelGrace(time.Minute))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(p.Close)
		w := p.Workers()[0]
		Expect(cancelSleep(ctx, p, w.Stdout().String)).To(MatchError(context.Canceled))

		callCtx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		err = p.Call(callCtx, "echo", "x", nil)
		Expect(errors.Is(err, context.DeadlineExceeded)).To(BeTrue(), "errors.Is still holds: %v", err)
		var ce *realpy.CallError
		Expect(errors.As(err, &ce)).To(BeTrue(), "typed: %#v", err)
		Expect(ce.Method).To(Equal("echo"))
		Expect(ce.Worker).To(ContainSubstring(w.ID()))
		Expect(err.Error()).To(MatchRegexp(`^realpy: pool: call "echo": context deadline exceeded after \d+ms \(the deadline of its context, (9\d|100)ms from the call\), `+
			`waiting for a free worker: worker %s \(pid %d\) was ending a cancelled call "sleep" within its cancel grace \(1m0s\)$`, w.ID(), w.Pid()))
	}, noHang)

	It("on a pool with WithCallTimeout: names the pool's bound as what ended the call", func(ctx SpecContext) {
		p, err := realpy.StartPool(ctx, realpy.WithSize(1), realpy.WithOutput(GinkgoWriter), realpy.WithCallTimeout(100*time.Millisecond))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(p.Close)
		err = p.Call(ctx, "sleep", map[string]any{"seconds": 0.5}, nil)
		Expect(errors.Is(err, context.DeadlineExceeded)).To(BeTrue(), "errors.Is still holds: %v", err)
		Expect(err.Error()).To(MatchRegexp(`^realpy: worker %s \(pid %d\): call "sleep": context deadline exceeded after \d+ms \(the deadline of the pool's WithCallTimeout\(100ms\), (9\d|100)ms from the call\), while the worker ran it: `,
			p.Workers()[0].ID(), p.Workers()[0].Pid()))
	}, noHang)
})
