package contract

import (
	"context"
	"sync"
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
)

// newConcurrentMock is the contract's mock serving contract.Concurrency
// calls at once, as a worker started with realpy.WithConcurrency.
func newConcurrentMock(opts ...mockpy.Option) *mockpy.Interpreter {
	py := mockpy.New(append([]mockpy.Option{mockpy.WithFailHandler(Fail), mockpy.WithMaxFrame(mockFrame), mockpy.WithConcurrency(contract.Concurrency)}, opts...)...)
	py.SetAllowUnhandledCalls(true)
	contract.InstallMock(py)
	return py
}

// Many calls per worker (issue 26): the whole contract, and the
// concurrency behaviours, on every target that serves calls at once.
var _ = describe("The interpreter contract with many calls per worker", func() {
	Describe("on the mock with WithConcurrency", harness.PythonMock, func() {
		factory := func(context.Context) pyharness.Interpreter { return newConcurrentMock() }
		contract.Register(factory)
		contract.RegisterConcurrent(factory)
	})

	Describe("on the wire-level fake with WithConcurrency (realpy's client, mockpy's server)", harness.PythonMock, func() {
		factory := func(ctx context.Context) pyharness.Interpreter {
			opts, _ := realConcurrency()
			client, err := realpy.NewClient(ctx, newConcurrentMock().Pipe(), opts...)
			Expect(err).NotTo(HaveOccurred())
			return client
		}
		contract.Register(factory)
		if _, ok := realConcurrency(); ok {
			contract.RegisterConcurrent(factory)
		}
	})

	opts, ok := realConcurrency()
	if !ok {
		return
	}
	Describe("on a real worker with WithConcurrency", harness.Integration, harness.PythonReal, func() {
		contract.RegisterConcurrent(func(ctx context.Context) pyharness.Interpreter {
			w, err := realpy.Start(ctx, append(realOptions(), opts...)...)
			Expect(err).NotTo(HaveOccurred())
			return w
		})
	})
	Describe("on a real pool of spawned workers with WithConcurrency", harness.Integration, harness.PythonReal, func() {
		contract.RegisterConcurrent(func(ctx context.Context) pyharness.Interpreter {
			p, err := realpy.StartPool(ctx, append(realOptions(), append(opts, realpy.WithSize(2), realpy.WithStrategy(realpy.Spawn))...)...)
			DeferCleanup(p.Close)
			Expect(err).NotTo(HaveOccurred())
			return p
		})
	})
	Describe("on a real pool forked from the suite's zygote with WithConcurrency", harness.Integration, harness.PythonReal, func() {
		contract.RegisterConcurrent(func(ctx context.Context) pyharness.Interpreter {
			p, err := realpy.StartPool(ctx, append(opts, realpy.WithOutput(GinkgoWriter), realpy.WithSize(2), realpyx.WithZygoteAddr[realpy.Option](zygote.Addr()))...)
			DeferCleanup(p.Close)
			Expect(err).NotTo(HaveOccurred())
			return p
		})
	})
})

var _ = describe("The concurrency contract on the container backend", Ordered, harness.Integration, harness.PythonContainer, func() {
	opts, ok := realConcurrency()
	if !ok {
		return
	}
	var ctr *container.Container
	BeforeAll(func(ctx SpecContext) {
		var err error
		ctr, err = container.Run(ctx, container.WithOptions(realpy.WithPythonPath(moduleDir), realpy.WithModules(contract.ModuleName)))
		DeferCleanup(func(ctx SpecContext) { Expect(ctr.Close(ctx)).To(Succeed()) })
		Expect(err).NotTo(HaveOccurred())
	}, NodeTimeout(5*time.Minute))

	contract.RegisterConcurrent(func(ctx context.Context) pyharness.Interpreter {
		p, err := ctr.StartPool(ctx, append(opts, realpy.WithSize(2))...)
		DeferCleanup(p.Close)
		Expect(err).NotTo(HaveOccurred())
		return p
	})
})

// inStartOrder makes the mock's routes of methods reply in the order their
// calls started: each reply waits for every earlier call's.
func inStartOrder(py *mockpy.Interpreter, methods ...string) {
	var mu sync.Mutex
	var prev chan struct{}
	wrap := func(h mockpy.Handler) mockpy.Handler {
		return func(ctx context.Context, call mockpy.Call) (any, error) {
			mu.Lock()
			before, mine := prev, make(chan struct{})
			prev = mine
			mu.Unlock()
			defer close(mine)
			result, err := h(ctx, call)
			if before != nil {
				<-before
			}
			return result, err
		}
	}
	honest := newConcurrentMock() // the contract's handlers, to wrap
	for _, method := range methods {
		method := method
		py.RouteToHandler(method, wrap(func(ctx context.Context, call mockpy.Call) (any, error) {
			var reply any
			err := honest.Call(ctx, method, call.Args, &reply)
			return reply, err
		}))
	}
}

var _ = describe("The concurrency contract catches a drifted mock", harness.PythonMock, func() {
	DescribeTable("a mock that serves calls otherwise than a multiplexing worker fails the behaviour that covers it, saying how",
		func(ctx SpecContext, behaviour string, drifted func() *mockpy.Interpreter, failure string) {
			b := findConcurrent(behaviour)
			honest := newConcurrentMock()
			DeferCleanup(honest.Close)
			Expect(contract.Failure(ctx, b, honest)).To(Succeed(), "the honest mock keeps the contract")

			py := drifted()
			DeferCleanup(py.Close)
			short, cancel := context.WithTimeout(ctx, time.Second) // the handlers wait for each other a third of it (less fails under -race: the drifted mock gives up before the second call is sent)
			defer cancel()
			err := contract.Failure(short, b, py)
			Expect(err).To(HaveOccurred(), "the drifted mock must break the contract")
			Expect(err.Error()).To(ContainSubstring(failure))
			cancel() // the drifted calls still waiting end with the context
			Eventually(func() int { return len(pendingCalls(py)) }).Should(BeZero())
		},
		Entry("calls served one at a time while it claims concurrency", "overlaps calls on one worker: each of them sees all the others arrive",
			func() *mockpy.Interpreter { return newConcurrentMock(mockpy.WithConcurrency(1)) },
			"a call of meet saw 1 of the 4 calls arrive while it ran: the calls did not overlap"),
		Entry("replies in the order the calls started", "answers calls as they end: a later call's reply comes before an earlier one's",
			func() *mockpy.Interpreter {
				py := newConcurrentMock()
				inStartOrder(py, "gate_wait", "gate_open")
				return py
			},
			"gate_open, sent while gate_wait ran, is answered first"),
		Entry("a cancel that kills the worker (a plain handler, not a task)", "cancels one of many calls: the others run on, and the worker lives",
			func() *mockpy.Interpreter {
				py := newConcurrentMock()
				py.RouteToHandler("gate_wait", func(ctx context.Context, call mockpy.Call) (any, error) {
					var args struct{ Gate string }
					_ = call.Decode(&args)
					_ = mockpy.CallGo(ctx, "started", args.Gate, nil)
					<-ctx.Done()
					return nil, ctx.Err()
				})
				return py
			},
			"a call after the cancel"),
		Entry("a stream that holds the worker until it ends", "interleaves a stream and a call: the call runs while the stream waits",
			func() *mockpy.Interpreter { return newConcurrentMock(mockpy.WithConcurrency(1)) },
			`call "gate_open": context deadline exceeded (waiting for its turn`),
		Entry("callbacks of one call at a time", "answers callbacks from many calls at once, each with its own result",
			func() *mockpy.Interpreter { return newConcurrentMock(mockpy.WithConcurrency(1)) },
			"callback waited alone in Go: the calls' callbacks were not in flight at once"),
	)
})

func findConcurrent(name string) contract.Behaviour {
	for _, b := range contract.ConcurrencyBehaviours {
		if b.Name == name {
			return b
		}
	}
	Fail("no concurrency behaviour named " + name)
	return contract.Behaviour{}
}

// pendingCalls are the mock's calls still running.
func pendingCalls(py *mockpy.Interpreter) []mockpy.Call {
	var out []mockpy.Call
	for _, c := range py.Calls() {
		if c.Ended.IsZero() {
			out = append(out, c)
		}
	}
	return out
}
