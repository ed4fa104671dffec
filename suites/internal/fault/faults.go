package fault

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"strings"
	"sync"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/realpy"
	"github.com/pyharness/pyharness/wire"
)

// noHang bounds every spec: a call that hangs fails the spec instead of the run.
var noHang = SpecTimeout(time.Minute)

// expectAlive proves the worker still serves calls.
func expectAlive(ctx context.Context, w *realpy.Worker) {
	GinkgoHelper()
	var hello realpy.Hello
	Expect(w.Call(ctx, "ping", nil, &hello)).To(Succeed())
	Expect(hello.Pid).To(Equal(w.Pid()))
}

// expectDeadWith proves the worker is gone and later calls say why.
func expectDeadWith(ctx context.Context, w *realpy.Worker, sentinel error) {
	GinkgoHelper()
	Expect(w.Exited()).To(BeClosed())
	Expect(w.Call(ctx, "ping", nil, nil)).To(MatchError(sentinel))
}

var _ = describe("A real worker under faults", harness.Integration, harness.PythonReal, func() {
	Describe("crash mid-call", func() {
		It("fails the call with the exit code and stderr tail", func(ctx SpecContext) {
			w := startWorker(ctx)
			err := w.Call(ctx, "crash", map[string]any{"code": 3, "stderr": "fatal: model file truncated"}, nil)

			var exited *wire.WorkerExitedError
			Expect(errors.As(err, &exited)).To(BeTrue(), "got %v", err)
			Expect(exited.Code).To(Equal(3))
			Expect(exited.Signal).To(BeZero())
			Expect(exited.Pid).To(Equal(w.Pid()))
			Expect(exited.Stderr).To(ContainElement("fatal: model file truncated"))
			Expect(w).To(gexec.Exit(3))
			expectDeadWith(ctx, w, wire.ErrWorkerExited)
		}, noHang)

		It("reports a worker killed by a signal", func(ctx SpecContext) {
			w := startWorker(ctx)
			err := w.Call(ctx, "crash", map[string]any{"signal": "KILL"}, nil)

			var exited *wire.WorkerExitedError
			Expect(errors.As(err, &exited)).To(BeTrue(), "got %v", err)
			Expect(exited.Signal).To(Equal(syscall.SIGKILL))
			Expect(exited.Code).To(Equal(128 + 9))
			Expect(w).To(gexec.Exit(137))
		}, noHang)
	})

	Describe("hang past the context deadline", func() {
		It("returns the deadline error and kills the worker", func(ctx SpecContext) {
			w := startWorker(ctx)
			callCtx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			defer cancel()

			err := w.Call(callCtx, "hang", nil, nil)
			Expect(err).To(MatchError(context.DeadlineExceeded))
			Eventually(w).Should(gexec.Exit(137), "a worker that does not end the call within the cancel grace is killed")

			err = w.Call(ctx, "ping", nil, nil)
			Expect(err).To(MatchError(wire.ErrWorkerExited))
			Expect(err).To(MatchError(ContainSubstring(`call "hang" abandoned`)))
		}, noHang)
	})

	Describe("context cancelled mid-call", func() {
		It("returns context.Canceled at once, and kills a worker whose handler runs on past the cancel grace", func(ctx SpecContext) {
			w := startWorker(ctx)
			callCtx, cancel := context.WithCancel(ctx)
			result := make(chan error, 1)
			go func() {
				defer GinkgoRecover()
				result <- w.Call(callCtx, "sleep", map[string]any{"seconds": 3600, "announce": "sleeping now"}, nil)
			}()
			Eventually(w.Stdout().String).Should(ContainSubstring("sleeping now"))
			Expect(w.Exited()).NotTo(BeClosed())

			cancel()
			Eventually(result).Should(Receive(MatchError(context.Canceled)))
			Eventually(w.Exited()).Should(BeClosed(), "a plain handler cannot be interrupted: past the cancel grace its worker is killed")
			expectDeadWith(ctx, w, wire.ErrWorkerExited)
		}, noHang)

		It("keeps a worker whose handler ends within the cancel grace", func(ctx SpecContext) {
			w := startWorker(ctx, realpy.WithCancelGrace(5*time.Second))
			callCtx, cancel := context.WithCancel(ctx)
			result := make(chan error, 1)
			go func() {
				defer GinkgoRecover()
				result <- w.Call(callCtx, "sleep", map[string]any{"seconds": 0.3, "announce": "sleeping now"}, nil)
			}()
			Eventually(w.Stdout().String).Should(ContainSubstring("sleeping now"))
			cancel()
			Eventually(result).Should(Receive(MatchError(context.Canceled)), "the caller does not wait for the handler")
			var back string
			Expect(w.Call(ctx, "echo", "still here", &back)).To(Succeed(), "the next call waits for the cancelled one to end, then runs")
			Expect(back).To(Equal("still here"))
			expectAlive(ctx, w)
		}, noHang)

		It("leaves the worker alone when the call was still waiting for its turn", func(ctx SpecContext) {
			w := startWorker(ctx)
			busy := make(chan error, 1)
			go func() {
				defer GinkgoRecover()
				busy <- w.Call(ctx, "sleep", map[string]any{"seconds": 0.5, "announce": "busy"}, nil)
			}()
			Eventually(w.Stdout().String).Should(ContainSubstring("busy"))

			waitingCtx, cancel := context.WithCancel(ctx)
			cancel()
			Expect(w.Call(waitingCtx, "ping", nil, nil)).To(MatchError(context.Canceled))
			Eventually(busy).Should(Receive(BeNil()))
			expectAlive(ctx, w)
		}, noHang)
	})

	Describe("malformed frames from the worker", func() {
		DescribeTable("end in a protocol error and a killed worker",
			func(ctx SpecContext, mode string, sentinel error, reason string) {
				w := startWorker(ctx)
				err := w.Call(ctx, "garbage", map[string]any{"mode": mode}, nil)
				Expect(err).To(MatchError(sentinel))
				Expect(err).To(MatchError(ContainSubstring(reason)))
				Expect(w).To(gexec.Exit(137))
				Expect(w.Call(ctx, "ping", nil, nil)).To(MatchError(sentinel), "later calls get the same cause")
			},
			Entry("payload that is not JSON", "json", wire.ErrProtocol, "not a valid JSON envelope", noHang),
			Entry("JSON that is not an envelope", "envelope", wire.ErrProtocol, `no numeric "id"`, noHang),
			Entry("reply to an id never sent", "id", wire.ErrProtocol, "which no request carried", noHang),
			Entry("length prefix of 4 GiB", "length", wire.ErrFrameTooLarge, "receive", noHang),
		)
	})

	Describe("oversize frames", func() {
		It("refuses to send an oversize request and leaves the worker serving", func(ctx SpecContext) {
			w := startWorker(ctx, realpy.WithMaxFrame(1<<20))
			err := w.Call(ctx, "echo", strings.Repeat("x", 2<<20), nil)

			var tooLarge *wire.FrameTooLargeError
			Expect(errors.As(err, &tooLarge)).To(BeTrue(), "got %v", err)
			Expect(tooLarge.Direction).To(Equal(wire.Send))
			Expect(tooLarge.Max).To(Equal(1 << 20))
			expectAlive(ctx, w)
		}, noHang)

		It("turns an oversize reply into a typed error and keeps the worker", func(ctx SpecContext) {
			w := startWorker(ctx, realpy.WithMaxFrame(1<<20))
			err := w.Call(ctx, "big", 2<<20, nil)

			var pyErr *wire.PythonError
			Expect(errors.As(err, &pyErr)).To(BeTrue(), "got %v", err)
			Expect(pyErr.Kind).To(Equal(wire.KindTooLarge))
			Expect(err).To(MatchError(wire.ErrFrameTooLarge))

			var small string
			Expect(w.Call(ctx, "big", 1000, &small)).To(Succeed())
			Expect(small).To(HaveLen(1000))
		}, noHang)
	})

	Describe("Python exception", func() {
		It("carries type, message and traceback and the worker lives on", func(ctx SpecContext) {
			w := startWorker(ctx)
			err := w.Call(ctx, "fail", map[string]any{"type": "ValueError", "message": "bad input: -1"}, nil)

			var pyErr *wire.PythonError
			Expect(errors.As(err, &pyErr)).To(BeTrue(), "got %v", err)
			Expect(pyErr.Kind).To(Equal(wire.KindException))
			Expect(pyErr.Type).To(Equal("ValueError"))
			Expect(pyErr.Message).To(Equal("bad input: -1"))
			Expect(pyErr.Traceback).To(HavePrefix("Traceback (most recent call last)"))
			Expect(pyErr.Traceback).To(ContainSubstring("fault_methods.py"))
			Expect(pyErr.Traceback).To(ContainSubstring("ValueError: bad input: -1"))
			expectAlive(ctx, w)

			Expect(w.Call(ctx, "no_such_method", nil, nil)).To(MatchError(wire.ErrUnknownMethod))
			expectAlive(ctx, w)
		}, noHang)
	})

	Describe("print() in a handler", func() {
		It("keeps frames intact and captures stdout and stderr", func(ctx SpecContext) {
			w := startWorker(ctx)
			noise := strings.Repeat("not a frame \x00\x00\x00\x10 {\"id\":1}\n", 20000)
			Expect(w.Call(ctx, "print", map[string]any{"stdout": noise + "to stdout", "stderr": "to stderr"}, nil)).To(Succeed())

			var echoed string
			Expect(w.Call(ctx, "echo", "frames intact", &echoed)).To(Succeed())
			Expect(echoed).To(Equal("frames intact"))
			Eventually(w.Stdout().String).Should(ContainSubstring("to stdout"))
			Eventually(w.Stderr().String).Should(ContainSubstring("to stderr"))
		}, noHang)
	})

	Describe("non-JSON-serialisable result", func() {
		DescribeTable("is a typed error and the worker lives on",
			func(ctx SpecContext, method, pyType string) {
				w := startWorker(ctx)
				err := w.Call(ctx, method, nil, nil)
				var pyErr *wire.PythonError
				Expect(errors.As(err, &pyErr)).To(BeTrue(), "got %v", err)
				Expect(pyErr.Kind).To(Equal(wire.KindUnserializable))
				Expect(pyErr.Type).To(Equal(pyType))
				Expect(err).To(MatchError(wire.ErrUnserializable))
				expectAlive(ctx, w)
			},
			Entry("an object", "unserializable", "TypeError", noHang),
			Entry("NaN", "not_a_number", "ValueError", noHang),
			Entry("a lone surrogate", "lone_surrogate", "UnicodeEncodeError", noHang),
		)

		It("refuses unserialisable Go args before sending anything", func(ctx SpecContext) {
			w := startWorker(ctx)
			Expect(w.Call(ctx, "echo", math.Inf(1), nil)).To(MatchError(wire.ErrUnserializable))
			Expect(w.Call(ctx, "echo", make(chan int), nil)).To(MatchError(wire.ErrUnserializable))
			expectAlive(ctx, w)
		}, noHang)
	})

	Describe("a 10 MB payload", func() {
		It("round-trips exactly", func(ctx SpecContext) {
			w := startWorker(ctx)
			payload := strings.Repeat("0123456789abcdé😀", 10<<20/20)
			var back string
			Expect(w.Call(ctx, "echo", payload, &back)).To(Succeed())
			Expect(len(back)).To(Equal(len(payload)))
			Expect(back == payload).To(BeTrue(), "payload changed on the way")
		}, noHang)
	})

	Describe("unicode", func() {
		It("round-trips non-BMP characters and combining marks, in keys and values", func(ctx SpecContext) {
			w := startWorker(ctx)
			value := map[string]any{
				"emoji 😀":      "👩‍👩‍👧 family, 🇫🇷 flag",
				"combining":    "e\u0301 a\u0308 n\u0303",
				"math":         "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
				"cjk":          "漢字かなカナ",
				"rtl":          "שלום مرحبا",
				"control":      "tab\tnewline\nnul\x00",
				"replacement":  "\uFFFD",
				"bom and zwsp": "\uFEFF\u200B",
			}
			var back map[string]any
			Expect(w.Call(ctx, "echo", value, &back)).To(Succeed())
			Expect(back).To(Equal(value))
		}, noHang)
	})

	Describe("an integer above 2^53", func() {
		It("round-trips exactly as a typed value and as a json.Number", func(ctx SpecContext) {
			w := startWorker(ctx)
			var typed struct {
				U   uint64 `json:"u"`
				Min int64  `json:"min"`
			}
			sent := map[string]any{"u": uint64(1)<<53 + 1, "min": int64(math.MinInt64)}
			Expect(w.Call(ctx, "echo", sent, &typed)).To(Succeed())
			Expect(typed.U).To(Equal(uint64(9007199254740993)))
			Expect(typed.Min).To(Equal(int64(math.MinInt64)))

			var generic any
			Expect(w.Call(ctx, "echo", uint64(math.MaxUint64), &generic)).To(Succeed())
			Expect(generic).To(Equal(json.Number("18446744073709551615")))

			huge, _ := new(big.Int).SetString("123456789012345678901234567890123", 10)
			back := new(big.Int)
			Expect(w.Call(ctx, "echo", huge, back)).To(Succeed())
			Expect(back.String()).To(Equal(huge.String()))
		}, noHang)
	})

	Describe("100 concurrent Close calls racing a SIGKILL", func() {
		It("all return nil after the process is reaped, with nothing leaked", func(ctx SpecContext) {
			w := startWorker(ctx)
			gate := make(chan struct{})
			results := make(chan error, 100)
			var wg sync.WaitGroup
			wg.Add(101)
			go func() {
				defer wg.Done()
				<-gate
				_ = syscall.Kill(w.Pid(), syscall.SIGKILL)
			}()
			for range 100 {
				go func() {
					defer wg.Done()
					<-gate
					err := w.Close()
					// Close returns only once the process is reaped.
					select {
					case <-w.Exited():
					default:
						err = errors.New("Close returned before the process was reaped")
					}
					results <- err
				}()
			}
			close(gate)
			wg.Wait()
			close(results)
			Expect(results).To(HaveLen(100))
			for err := range results {
				Expect(err).NotTo(HaveOccurred())
			}
			Expect(w.ExitCode()).To(Or(Equal(0), Equal(137)), "a clean shutdown or the SIGKILL, whichever won")
			Expect(w.Call(ctx, "ping", nil, nil)).To(MatchError(wire.ErrClosed))
		}, noHang)
	})
})
