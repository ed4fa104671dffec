package mockpy_test

import (
	"context"
	"errors"
	"time"

	"github.com/jonboulle/clockwork"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"

	"github.com/pyharness/pyharness/mockpy"
	"github.com/pyharness/pyharness/wire"
)

var _ = Describe("A mock interpreter", func() {
	var (
		py  *mockpy.Interpreter
		ctx context.Context
	)
	BeforeEach(func() {
		py = mockpy.New()
		ctx = context.Background()
	})

	It("answers routed methods, then appended handlers in order, then built-ins", func() {
		py.RouteToHandler("predict", mockpy.Respond("positive"))
		py.AppendHandlers(mockpy.Respond(1), mockpy.Respond(2))
		var got any
		Expect(py.Call(ctx, "predict", nil, &got)).To(Succeed())
		Expect(got).To(Equal("positive"))
		Expect(py.Call(ctx, "anything", nil, &got)).To(Succeed())
		Expect(got).To(Equal(wireNumber("1")))
		Expect(py.Unconsumed()).To(Equal(1))
		Expect(py).NotTo(mockpy.HaveConsumedAllHandlers())
		Expect(py.Call(ctx, "echo", "x", &got)).To(Succeed())
		Expect(got).To(Equal(wireNumber("2")), "the sequence comes before built-ins")
		Expect(py).To(mockpy.HaveConsumedAllHandlers())
		Expect(py.Call(ctx, "echo", "x", &got)).To(Succeed())
		Expect(got).To(Equal("x"))
	})

	It("reports forbidden unhandled calls through the fail handler, with the real unknown-method error", func() {
		var failures []string
		py = mockpy.New(mockpy.WithoutBuiltins(), mockpy.WithFailHandler(func(msg string, _ ...int) { failures = append(failures, msg) }))
		err := py.Call(ctx, "ping", nil, nil)
		Expect(err).To(MatchError(wire.ErrUnknownMethod))
		Expect(failures).To(ConsistOf(ContainSubstring("unhandled call ping(null)")))
		Expect(py).NotTo(mockpy.HaveNoUnhandledCalls())

		py.SetAllowUnhandledCalls(true)
		Expect(py.Call(ctx, "ping", nil, nil)).To(MatchError(wire.ErrUnknownMethod))
		Expect(failures).To(HaveLen(1))
	})

	It("records calls with args and sessions for HaveReceived", func() {
		Expect(py.Call(wire.WithSession(ctx, "s1"), "echo", map[string]any{"text": "great", "n": 3}, nil)).To(Succeed())
		Expect(py.Call(ctx, "echo", map[string]any{"text": "awful"}, nil)).To(Succeed())

		Expect(py).To(mockpy.HaveReceived("echo", mockpy.Times(2)))
		Expect(py).To(mockpy.HaveReceived("echo", mockpy.WithArgs(HaveKeyWithValue("text", "great")), mockpy.WithSession("s1")))
		Expect(py).To(mockpy.HaveReceived("echo", mockpy.WithArgs(map[string]any{"text": "awful"}), mockpy.Times(1)))
		Expect(py).NotTo(mockpy.HaveReceived("predict"))
		Expect(py.CallsTo("echo")[0].Session).To(Equal("s1"))
	})

	It("explains a missed expectation with every call received", func() {
		Expect(py.Call(ctx, "echo", []int{1}, nil)).To(Succeed())
		matcher := mockpy.HaveReceived("predict", mockpy.Times(2))
		Expect(matcher.Match(py)).To(BeFalse())
		Expect(matcher.FailureMessage(py)).To(And(
			ContainSubstring(`to have received a call of "predict"`),
			ContainSubstring("exactly 2 time(s)"),
			ContainSubstring("it received 0 matching call(s)"),
			ContainSubstring("echo([1])"),
		))
	})

	It("passes args and results through JSON as the wire does", func() {
		py.RouteToHandler("inspect", func(_ context.Context, call mockpy.Call) (any, error) {
			return call.Value(), nil
		})
		var back map[string]any
		Expect(py.Call(ctx, "inspect", map[string]any{"big": uint64(1)<<60 + 1}, &back)).To(Succeed())
		Expect(back["big"]).To(Equal(wireNumber("1152921504606846977")))
		Expect(py.Call(ctx, "inspect", func() {}, nil)).To(MatchError(wire.ErrUnserializable))
	})

	It("writes handlers like the Python ones with RespondFunc", func() {
		py.RouteToHandler("add", mockpy.RespondFunc(func(a struct{ A, B int }) (int, error) { return a.A + a.B, nil }))
		py.RouteToHandler("strict", mockpy.RespondFunc(func(a struct{ N int }) (int, error) {
			if a.N < 0 {
				return 0, mockpy.Exception("ValueError", "negative")
			}
			return a.N, nil
		}))
		var sum int
		Expect(py.Call(ctx, "add", map[string]int{"a": 1, "b": 2}, &sum)).To(Succeed())
		Expect(sum).To(Equal(3))
		err := py.Call(ctx, "strict", map[string]int{"n": -1}, nil)
		var pyErr *wire.PythonError
		Expect(errors.As(err, &pyErr)).To(BeTrue())
		Expect(pyErr.Type).To(Equal("ValueError"))
	})

	It("verifies method and args with CombineHandlers", func() {
		py.AppendHandlers(mockpy.CombineHandlers(mockpy.VerifyMethod("predict"), mockpy.VerifyArgs(map[string]string{"text": "hi"}), mockpy.Respond("ok")))
		err := py.Call(ctx, "predict", map[string]string{"text": "bye"}, nil)
		var mismatch *mockpy.MismatchError
		Expect(errors.As(err, &mismatch)).To(BeTrue())
		Expect(err).To(MatchError(ContainSubstring(`expected args {"text":"hi"}`)))
		Expect(py).NotTo(mockpy.HaveNoMismatches())
		Expect(py.Mismatches()).To(HaveLen(1))
	})

	It("reports a mismatch to the fail handler, even when the caller swallows the error", func() {
		var failures []string
		strict := mockpy.New(mockpy.WithFailHandler(func(message string, _ ...int) { failures = append(failures, message) }))
		strict.AppendHandlers(mockpy.CombineHandlers(mockpy.VerifyMethod("predict"), mockpy.Respond("ok")))
		_ = strict.Call(ctx, "train", nil, nil)
		Expect(failures).To(ConsistOf(ContainSubstring(`expected a call of "predict"`)))

		clean := mockpy.New()
		clean.AppendHandlers(mockpy.CombineHandlers(mockpy.VerifyMethod("predict"), mockpy.Respond("ok")))
		Expect(clean.Call(ctx, "predict", nil, nil)).To(Succeed())
		Expect(clean).To(mockpy.HaveNoMismatches())
	})

	It("crashes like a worker: this call and later ones get ErrWorkerExited", func() {
		py.RouteToHandler("load", mockpy.Crash(3))
		err := py.Call(ctx, "load", nil, nil)
		var exited *wire.WorkerExitedError
		Expect(errors.As(err, &exited)).To(BeTrue())
		Expect(exited.Code).To(Equal(3))
		Expect(py.Call(ctx, "ping", nil, nil)).To(MatchError(wire.ErrWorkerExited))
	})

	It("hangs until the context ends, and is gone afterwards", func() {
		short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
		defer cancel()
		Expect(py.Call(short, "hang", nil, nil)).To(MatchError(context.DeadlineExceeded))
		Expect(py.Call(ctx, "ping", nil, nil)).To(MatchError(wire.ErrWorkerExited))
	})

	It("delays on its clock, so a fake clock makes latency instant", func() {
		clock := clockwork.NewFakeClock()
		py = mockpy.New(mockpy.WithClock(clock))
		py.RouteToHandler("slow", py.Delay(time.Hour, mockpy.Respond("done")))
		result := make(chan error, 1)
		go func() { result <- py.Call(ctx, "slow", nil, nil) }()
		Expect(clock.BlockUntilContext(ctx, 1)).To(Succeed())
		Consistently(result).ShouldNot(Receive())
		clock.Advance(time.Hour)
		Eventually(result).Should(Receive(BeNil()))
	})

	It("captures print output like a worker", func() {
		Expect(py.Call(ctx, "print", map[string]string{"stdout": "loaded", "stderr": "warn"}, nil)).To(Succeed())
		Expect(py.Stdout()).To(gbytes.Say("loaded"))
		Expect(py.Stderr()).To(gbytes.Say("warn"))
	})

	It("refuses calls after Close", func() {
		Expect(py.Close()).To(Succeed())
		Expect(py.Call(ctx, "ping", nil, nil)).To(MatchError(wire.ErrClosed))
	})

	It("keeps a killed mock's exit error after Close, like a worker", func() {
		Expect(py.Kill()).To(Succeed())
		var before, after *wire.WorkerExitedError
		Expect(errors.As(py.Call(ctx, "ping", nil, nil), &before)).To(BeTrue())
		Expect(py.Close()).To(Succeed())
		Expect(errors.As(py.Call(ctx, "ping", nil, nil), &after)).To(BeTrue())
		Expect(after).To(BeIdenticalTo(before))
	})
})
