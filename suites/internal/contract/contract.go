package contract

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness"
	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/harness/contract"
	"github.com/pyharness/pyharness/internal/realpyx"
	"github.com/pyharness/pyharness/mockpy"
	"github.com/pyharness/pyharness/realpy"
	"github.com/pyharness/pyharness/realpy/container"
	"github.com/pyharness/pyharness/wire"
)

// mockFrame is the frame limit of the contract's mocks (and so of the
// wire-level fake's client, which takes the smaller limit its peer's ping
// names): the behaviours over the limit build a value of that size, 64 MiB
// at the default, where 2 MiB shows the same answer at a thirty-second of
// the cost. It is above every value a behaviour means to carry whole (the
// 1 MB string, the 256 KiB large values); the real targets keep the
// default.
const mockFrame = 2 << 20

func newMock() *mockpy.Interpreter {
	py := mockpy.New(mockpy.WithFailHandler(Fail), mockpy.WithMaxFrame(mockFrame))
	py.SetAllowUnhandledCalls(true) // the contract calls a method nobody serves
	contract.InstallMock(py)
	return py
}

func realOptions() []realpy.Option {
	return []realpy.Option{
		realpy.WithOutput(GinkgoWriter),
		realpy.WithPythonPath(moduleDir),
		realpy.WithModules(contract.ModuleName),
	}
}

var _ = describe("The interpreter contract", func() {
	Describe("on the mock", harness.PythonMock, func() {
		contract.Register(func(ctx context.Context) pyharness.Interpreter { return newMock() })
	})

	Describe("on the wire-level fake (realpy's client, mockpy's server, no Python)", harness.PythonMock, func() {
		contract.Register(func(ctx context.Context) pyharness.Interpreter {
			client, err := realpy.NewClient(ctx, newMock().Pipe())
			Expect(err).NotTo(HaveOccurred())
			return client
		})
	})

	// The contract is about what a worker answers, not how it started: the
	// worker target forks from the suite's zygote (a fork, not an import).
	// Only the spawned pool starts interpreters, one per spec, so that the
	// spawn path keeps the contract too.
	Describe("on a real worker", harness.Integration, harness.PythonReal, func() {
		contract.Register(func(ctx context.Context) pyharness.Interpreter {
			w, err := zygote.Fork(ctx)
			Expect(err).NotTo(HaveOccurred())
			return w
		})
	})

	Describe("on a real pool of spawned workers", harness.Integration, harness.PythonReal, func() {
		contract.Register(func(ctx context.Context) pyharness.Interpreter {
			p, err := realpy.StartPool(ctx, append(realOptions(), realpy.WithSize(1), realpy.WithStrategy(realpy.Spawn))...)
			DeferCleanup(p.Close)
			Expect(err).NotTo(HaveOccurred())
			return p
		})
	})

	Describe("on a real pool forked from the suite's zygote", harness.Integration, harness.PythonReal, func() {
		contract.Register(func(ctx context.Context) pyharness.Interpreter {
			p, err := realpy.StartPool(ctx, realpy.WithOutput(GinkgoWriter), realpy.WithSize(2), realpyx.WithZygoteAddr[realpy.Option](zygote.Addr()))
			DeferCleanup(p.Close)
			Expect(err).NotTo(HaveOccurred())
			return p
		})
	})

	// One worker, so that the behaviours' overlapping calls are written
	// behind each other (PROTOCOL.md, Pipelining).
	Describe("on a real pool of one worker forked from the suite's zygote, with WithPipelining", harness.Integration, harness.PythonReal, func() {
		contract.Register(func(ctx context.Context) pyharness.Interpreter {
			p, err := realpy.StartPool(ctx, realpy.WithOutput(GinkgoWriter), realpy.WithSize(1), realpy.WithPipelining(), realpyx.WithZygoteAddr[realpy.Option](zygote.Addr()))
			DeferCleanup(p.Close)
			Expect(err).NotTo(HaveOccurred())
			return p
		})
	})
})

var _ = describe("The interpreter contract on the container backend", Ordered, harness.Integration, harness.PythonContainer, func() {
	var ctr *container.Container
	BeforeAll(func(ctx SpecContext) {
		var err error
		ctr, err = container.Run(ctx, container.WithOptions(realpy.WithPythonPath(moduleDir), realpy.WithModules(contract.ModuleName)))
		DeferCleanup(func(ctx SpecContext) { Expect(ctr.Close(ctx)).To(Succeed()) })
		Expect(err).NotTo(HaveOccurred())
	}, NodeTimeout(5*time.Minute))

	contract.Register(func(ctx context.Context) pyharness.Interpreter {
		p, err := ctr.StartPool(ctx, realpy.WithSize(2))
		DeferCleanup(p.Close)
		Expect(err).NotTo(HaveOccurred())
		return p
	})
})

var _ = describe("The contract catches a drifted mock", harness.PythonMock, func() {
	DescribeTable("a mock that differs from Python fails the behaviour that covers it",
		func(ctx SpecContext, behaviour string, drift func(*mockpy.Interpreter)) {
			b := contract.Find(behaviour)
			honest := newMock()
			Expect(contract.Failure(ctx, b, honest)).To(Succeed(), "the honest mock keeps the contract")

			drifted := newMock()
			drift(drifted)
			Expect(contract.Failure(ctx, b, drifted)).To(HaveOccurred(), "the drifted mock must break the contract")
		},
		Entry("an exception reported with the wrong type", "raises builtin exceptions with their type and message",
			func(py *mockpy.Interpreter) { py.RouteToHandler("fail", mockpy.Raise("RuntimeError", "model")) }),
		Entry("an unknown method answered with null", "types an unknown method and lives on",
			func(py *mockpy.Interpreter) { py.RouteToHandler("no_such_method", mockpy.Respond(nil)) }),
		Entry("big integers through float64", "round-trips integers beyond 2^53 exactly",
			func(py *mockpy.Interpreter) {
				py.RouteToHandler("echo", func(_ context.Context, call mockpy.Call) (any, error) {
					var floats []float64
					_ = call.Decode(&floats)
					return floats, nil
				})
			}),
		Entry("a crash that answers", "fails a call whose worker crashes with ErrWorkerExited",
			func(py *mockpy.Interpreter) { py.RouteToHandler("crash", mockpy.Respond(nil)) }),
		Entry("sessions ignored", "carries session ids: state is kept per session",
			func(py *mockpy.Interpreter) {
				n := 0
				py.RouteToHandler("remember", func(context.Context, mockpy.Call) (any, error) { n++; return n, nil })
			}),
		Entry("a stream out of order", "streams a generator's items in order, then ends",
			func(py *mockpy.Interpreter) {
				py.RouteToHandler("count", mockpy.StreamFunc(func(_ context.Context, call mockpy.Call, yield func(any) bool) error {
					var args struct{ N int }
					_ = call.Decode(&args)
					for i := args.N - 1; i >= 0 && yield(i); i-- {
					}
					return nil
				}))
			}),
		Entry("a stream that runs no cleanup when its caller leaves", "closes the generator when the loop breaks: its finally runs",
			func(py *mockpy.Interpreter) { py.RouteToHandler("count", mockpy.Stream(0, 1, 2, 3, 4, 5)) }),
		Entry("an async handler that does not stop when cancelled", "cancels an async handler when the call's context ends, and lives on",
			func(py *mockpy.Interpreter) {
				py.RouteToHandler("nap", func(ctx context.Context, _ mockpy.Call) (any, error) {
					_ = mockpy.CallGo(ctx, "started", nil, nil)
					<-ctx.Done()
					return nil, ctx.Err() // a plain handler: the worker is lost
				})
			}),
		Entry("a Go error swallowed", "raises a Go function's error, panic or absence in the handler as GoError",
			func(py *mockpy.Interpreter) { py.RouteToHandler("ask", mockpy.Respond(map[string]any{"answer": nil})) }),
		Entry("a reply missing its traceback", "carries a traceback that ends with the exception",
			func(py *mockpy.Interpreter) {
				py.RouteToHandler("fail", func(context.Context, mockpy.Call) (any, error) {
					return nil, &wire.PythonError{Kind: wire.KindException, Type: "ValueError", Message: "bad é"}
				})
			}),
	)
})
