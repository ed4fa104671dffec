package contract

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness"
	"github.com/pyharness/pyharness/internal/randid"
	"github.com/pyharness/pyharness/mockpy"
	"github.com/pyharness/pyharness/wire"
)

// Concurrency is how many calls a target of ConcurrencyBehaviours must
// serve at once: a mock made with mockpy.WithConcurrency(Concurrency), a
// worker or pool started with realpy.WithConcurrency(Concurrency).
const Concurrency = 8

// ConcurrencyBehaviours are what an interpreter serving many calls at once
// on one worker (PROTOCOL.md, Concurrency) must do alike: the calls
// overlap, replies come as calls end, a cancel ends only its call, a death
// fails every call in flight, streams and calls interleave, and callbacks
// reach Go from many calls at once. Each uses one session, so that a pool
// runs its calls on one worker. An interpreter that serves one call at a
// time fails them (after a bound: the handlers wait for each other at most
// overlapBound, or until the context's deadline is near).
var ConcurrencyBehaviours = []Behaviour{
	{"overlaps calls on one worker: each of them sees all the others arrive", func(ctx context.Context, py pyharness.Interpreter) {
		ctx = wire.WithSession(ctx, "contract-meet-"+randid.Hex(4))
		group := "meet-" + randid.Hex(4)
		counts := make(chan int, 4)
		errs := make(chan error, 4)
		for range 4 {
			go func() {
				var n int
				if err := py.Call(ctx, "meet", map[string]any{"group": group, "n": 4, "timeout": bound(ctx).Seconds()}, &n); err != nil {
					errs <- err
					return
				}
				counts <- n
			}()
		}
		for range 4 {
			select {
			case err := <-errs:
				Fail(fmt.Sprintf("a call of meet failed: %v", err))
			case n := <-counts:
				Expect(n).To(Equal(4), "a call of meet saw %d of the 4 calls arrive while it ran: the calls did not overlap", n)
			}
		}
	}},
	{"answers calls as they end: a later call's reply comes before an earlier one's", func(ctx context.Context, py pyharness.Interpreter) {
		ctx, started := startedCallback(wire.WithSession(ctx, "contract-order-"+randid.Hex(4)))
		gate := "order-" + randid.Hex(4)
		ended := make(chan string, 2)
		go func() {
			var got string
			err := py.Call(ctx, "gate_wait", map[string]any{"gate": gate, "timeout": bound(ctx).Seconds()}, &got)
			ended <- fmt.Sprintf("gate_wait: %s%v", got, errText(err))
		}()
		Eventually(started).WithTimeout(bound(ctx)).Should(Receive(Equal(gate)), "gate_wait started")
		// A later call that does not touch gate_wait's gate: its reply must
		// come while gate_wait still waits (its gate stays closed until after).
		other := gate + "-other"
		var opened string
		Expect(py.Call(ctx, "gate_open", map[string]any{"gate": other}, &opened)).To(Succeed(), "gate_open, sent while gate_wait ran, is answered first")
		Expect(opened).To(Equal("opened " + other))
		Expect(ended).NotTo(Receive(), "gate_open, sent while gate_wait ran, is answered first: gate_wait, whose gate is still closed, ended before it")
		Expect(py.Call(ctx, "gate_open", map[string]any{"gate": gate}, &opened)).To(Succeed())
		var second string
		Eventually(ended).WithTimeout(bound(ctx)).Should(Receive(&second))
		// gate_wait's reply may reach its caller a moment after a reply
		// held back for it: one that timed out had ended before gate_open's.
		Expect(second).NotTo(HavePrefix("gate_wait: timed out"), "gate_open, sent while gate_wait ran, is answered first: gate_wait timed out before it, its gate still closed")
		Expect(second).To(Equal("gate_wait: passed "+gate), "gate_wait ends once gate_open opened its gate")
	}},
	{"cancels one of many calls: the others run on, and the worker lives", func(ctx context.Context, py pyharness.Interpreter) {
		ctx, started := startedCallback(wire.WithSession(ctx, "contract-cancel-"+randid.Hex(4)))
		gates := []string{"a-" + randid.Hex(4), "b-" + randid.Hex(4), "c-" + randid.Hex(4)}
		victim, cancel := context.WithCancel(ctx)
		defer cancel()
		results := map[string]chan string{}
		for _, gate := range gates {
			results[gate] = make(chan string, 1)
		}
		for i, gate := range gates {
			callCtx := ctx
			if i == 1 {
				callCtx = victim
			}
			go func() {
				var got string
				err := py.Call(callCtx, "gate_wait", map[string]any{"gate": gate, "timeout": bound(ctx).Seconds()}, &got)
				results[gate] <- got + errText(err)
			}()
		}
		seen := map[string]bool{}
		for range gates {
			var g string
			Eventually(started).WithTimeout(bound(ctx)).Should(Receive(&g), "all three gate_wait calls started")
			seen[g] = true
		}
		Expect(seen).To(HaveLen(3), "all three calls ran at once")
		cancel()
		var got string
		Eventually(results[gates[1]]).WithTimeout(bound(ctx)).Should(Receive(&got))
		Expect(got).To(ContainSubstring(context.Canceled.Error()), "the cancelled call")
		for _, gate := range []string{gates[0], gates[2]} {
			var opened string
			Expect(py.Call(ctx, "gate_open", map[string]any{"gate": gate}, &opened)).To(Succeed(), "a call after the cancel")
			Eventually(results[gate]).WithTimeout(bound(ctx)).Should(Receive(&got))
			Expect(got).To(Equal("passed "+gate), "a call not cancelled runs to its end")
		}
		alive(ctx, py)
		var closed []string
		Expect(py.Call(ctx, "were_closed", nil, &closed)).To(Succeed())
		Expect(closed).To(ContainElement("gate_wait "+gates[1]), "CancelledError reached the cancelled call's task")
		Expect(closed).NotTo(ContainElement("gate_wait "+gates[0]), "and no other")
		Expect(closed).NotTo(ContainElement("gate_wait "+gates[2]), "and no other")
	}},
	{"fails each call in flight with ErrWorkerExited when the worker dies", func(ctx context.Context, py pyharness.Interpreter) {
		ctx, started := startedCallback(wire.WithSession(ctx, "contract-death-"+randid.Hex(4)))
		results := make(chan error, 3)
		for range 3 {
			gate := "death-" + randid.Hex(4)
			go func() {
				results <- py.Call(ctx, "gate_wait", map[string]any{"gate": gate, "timeout": bound(ctx).Seconds()}, nil)
			}()
		}
		for range 3 {
			Eventually(started).WithTimeout(bound(ctx)).Should(Receive(), "all three gate_wait calls started")
		}
		Expect(py.Call(ctx, "crash", map[string]int{"code": 3}, nil)).To(MatchError(wire.ErrWorkerExited))
		for range 3 {
			var err error
			Eventually(results).WithTimeout(bound(ctx)).Should(Receive(&err))
			Expect(err).To(MatchError(wire.ErrWorkerExited), "every call in flight on the worker fails with its exit")
		}
	}},
	{"interleaves a stream and a call: the call runs while the stream waits", func(ctx context.Context, py pyharness.Interpreter) {
		ctx = wire.WithSession(ctx, "contract-interleave-"+randid.Hex(4))
		gate := "stream-" + randid.Hex(4)
		var got []int
		for v, err := range wire.Items[int](streamer(py).Stream(ctx, "gated_count", map[string]any{"gate": gate, "n": 4, "timeout": bound(ctx).Seconds()})) {
			Expect(err).NotTo(HaveOccurred(), "the stream after items %v", got)
			got = append(got, v)
			if v == 0 { // the stream now waits for its gate: open it with a call
				// The stream waits for its gate at most bound: a call that
				// is answered later cannot open it in time (one that waits
				// for the stream to end, say), and fails at that bound too.
				callCtx, cancel := context.WithTimeout(ctx, bound(ctx))
				var opened string
				err := py.Call(callCtx, "gate_open", map[string]any{"gate": gate}, &opened)
				cancel()
				Expect(err).To(Succeed())
				Expect(opened).To(Equal("opened " + gate))
			}
		}
		Expect(got).To(Equal([]int{0, 1, 2, 3}))
		alive(ctx, py)
	}},
	{"answers callbacks from many calls at once, each with its own result", func(ctx context.Context, py pyharness.Interpreter) {
		ctx = wire.WithSession(ctx, "contract-callbacks-"+randid.Hex(4))
		const calls = 4
		var mu sync.Mutex
		arrived := 0
		all := make(chan struct{})
		limit := bound(ctx)
		ctx = wire.WithCallbacks(ctx, map[string]wire.Callback{
			"together": wire.CallbackFunc(func(ctx context.Context, i int) (map[string]any, error) {
				mu.Lock()
				if arrived++; arrived == calls {
					close(all)
				}
				mu.Unlock()
				select { // every call's callback is in Go at once
				case <-all:
					return map[string]any{"i": i, "met": true}, nil
				case <-time.After(limit):
					return map[string]any{"i": i, "met": false}, nil
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}),
		})
		type answer struct {
			I   int
			Met bool
		}
		answers := make(chan answer, calls)
		errs := make(chan error, calls)
		for i := range calls {
			go func() {
				var got answer
				if err := py.Call(ctx, "ask_async", map[string]any{"name": "together", "args": i}, &got); err != nil {
					errs <- err
					return
				}
				if got.I != i {
					errs <- fmt.Errorf("call %d got the answer of call %d", i, got.I)
					return
				}
				answers <- got
			}()
		}
		for range calls {
			select {
			case err := <-errs:
				Fail(err.Error())
			case got := <-answers:
				Expect(got.Met).To(BeTrue(), "call %d's callback waited alone in Go: the calls' callbacks were not in flight at once", got.I)
			}
		}
	}},
}

// overlapBound is how long the handlers of ConcurrencyBehaviours wait for
// each other at most: an interpreter that serves one call at a time fails
// after it.
const overlapBound = 10 * time.Second

// bound is overlapBound, or less when ctx ends sooner (leaving a margin
// for the failure to be reported).
func bound(ctx context.Context) time.Duration {
	b := overlapBound
	if deadline, ok := ctx.Deadline(); ok {
		if left := time.Until(deadline) / 3; left < b {
			b = max(left, 10*time.Millisecond)
		}
	}
	return b
}

// startedCallback gives ctx a Go function "started" that gate_wait calls
// with its gate as it starts.
func startedCallback(ctx context.Context) (context.Context, <-chan string) {
	started := make(chan string, 16)
	return wire.WithCallbacks(ctx, map[string]wire.Callback{
		"started": wire.CallbackFunc(func(_ context.Context, gate string) (any, error) { started <- gate; return nil, nil }),
	}), started
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return " (error: " + err.Error() + ")"
}

// RegisterConcurrent registers one It per ConcurrencyBehaviours entry in
// the current container, as Register does; factory must return an
// interpreter that serves Concurrency calls at once.
func RegisterConcurrent(factory Factory, decorators ...any) {
	register(ConcurrencyBehaviours, factory, decorators)
}

// installConcurrency routes the handlers of ConcurrencyBehaviours on a
// mock, as the Python ones are written (async handlers on the worker's
// event loop).
func installConcurrency(py *mockpy.Interpreter, record func(string)) {
	var mu sync.Mutex
	type group struct {
		count int
		all   chan struct{}
	}
	groups := map[string]*group{}
	gates := map[string]chan struct{}{}
	gateOf := func(name string) chan struct{} {
		mu.Lock()
		defer mu.Unlock()
		g, ok := gates[name]
		if !ok {
			g = make(chan struct{})
			gates[name] = g
		}
		return g
	}
	type gateArgs struct {
		Gate    string
		N       int
		Timeout float64
	}
	seconds := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	py.RouteToHandler("meet", func(ctx context.Context, call mockpy.Call) (any, error) {
		var args struct {
			Group   string
			N       int
			Timeout float64
		}
		_ = call.Decode(&args)
		mu.Lock()
		g, ok := groups[args.Group]
		if !ok {
			g = &group{all: make(chan struct{})}
			groups[args.Group] = g
		}
		if g.count++; g.count == args.N {
			close(g.all)
		}
		mu.Unlock()
		select {
		case <-g.all:
		case <-time.After(seconds(args.Timeout)):
		case <-ctx.Done():
			return nil, mockpy.Cancelled(ctx.Err())
		}
		mu.Lock()
		defer mu.Unlock()
		return g.count, nil
	})
	py.RouteToHandler("gate_wait", func(ctx context.Context, call mockpy.Call) (any, error) {
		var args gateArgs
		_ = call.Decode(&args)
		if err := mockpy.CallGo(ctx, "started", args.Gate, nil); err != nil {
			record("gate_wait " + args.Gate)
			return nil, err
		}
		select {
		case <-gateOf(args.Gate):
			return "passed " + args.Gate, nil
		case <-time.After(seconds(args.Timeout)):
			return "timed out at " + args.Gate, nil
		case <-ctx.Done():
			record("gate_wait " + args.Gate)
			return nil, mockpy.Cancelled(ctx.Err())
		}
	})
	py.RouteToHandler("gate_open", func(_ context.Context, call mockpy.Call) (any, error) {
		var args gateArgs
		_ = call.Decode(&args)
		g := gateOf(args.Gate)
		mu.Lock()
		select {
		case <-g:
		default:
			close(g)
		}
		mu.Unlock()
		return "opened " + args.Gate, nil
	})
	py.RouteToHandler("gated_count", mockpy.StreamFunc(func(ctx context.Context, call mockpy.Call, yield func(any) bool) error {
		var args gateArgs
		_ = call.Decode(&args)
		if !yield(0) {
			return nil
		}
		select {
		case <-gateOf(args.Gate):
		case <-time.After(seconds(args.Timeout)):
			return mockpy.Exception("TimeoutError", "gate "+args.Gate+" was not opened while the stream ran")
		case <-ctx.Done():
			return mockpy.Cancelled(ctx.Err())
		}
		for i := 1; i < args.N; i++ {
			if !yield(i) {
				return nil
			}
		}
		return nil
	}))
	py.RouteToHandler("ask_async", func(ctx context.Context, call mockpy.Call) (any, error) {
		var args struct {
			Name string
			Args json.RawMessage
		}
		_ = call.Decode(&args)
		var answer any
		if err := mockpy.CallGo(ctx, args.Name, args.Args, &answer); err != nil {
			return nil, err
		}
		return answer, nil
	})
}
