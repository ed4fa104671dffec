package fault

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/internal/realpyx"
	"github.com/pyharness/pyharness/realpy"
	"github.com/pyharness/pyharness/wire"
)

// muxOptions serve the async handlers of mux_fault_handlers.py, n calls at
// once per worker.
func muxOptions(n int, opts ...realpy.Option) []realpy.Option {
	return append([]realpy.Option{
		realpy.WithOutput(GinkgoWriter),
		realpy.WithPythonPath(testdataDir()),
		realpy.WithModules("mux_fault_handlers"),
		realpy.WithConcurrency(n),
	}, opts...)
}

var _ = describe("Many calls per worker (#26)", harness.Integration, harness.PythonReal, func() {
	It("fails each of 32 calls in flight with the worker's exit when it is killed, heals the pool, and leaves nothing", func(ctx SpecContext) {
		started := make(chan int, 32)
		p, err := realpy.StartPool(ctx, muxOptions(32, realpy.WithSize(1), realpy.WithStrategy(realpy.Spawn),
			realpy.WithCallback("started", wire.CallbackFunc(func(_ context.Context, n int) (any, error) {
				started <- n
				return nil, nil
			})))...)
		DeferCleanup(p.Close)
		Expect(err).NotTo(HaveOccurred())
		victim := p.Workers()[0]
		Expect(victim.Capacity()).To(Equal(32))

		errs := make(chan error, 32)
		for n := range 32 {
			go func() { errs <- p.Call(ctx, "hold", map[string]int{"n": n}, nil) }()
		}
		seen := map[int]bool{}
		for range 32 {
			seen[<-started] = true
		}
		Expect(seen).To(HaveLen(32), "all 32 calls run at once on the one worker")
		Expect(p.Stats().InFlight).To(Equal(32))
		Expect(p.Stats().Busy).To(Equal(1))

		Expect(syscall.Kill(victim.Pid(), syscall.SIGKILL)).To(Succeed())
		for range 32 {
			err := <-errs
			var exited *wire.WorkerExitedError
			Expect(errors.As(err, &exited)).To(BeTrue(), "a typed error: %v", err)
			Expect(err).To(MatchError(wire.ErrWorkerExited))
			Expect(err.Error()).To(ContainSubstring("killed by signal 9"))
		}
		Expect(p.Stats().InFlight).To(BeZero())

		var token string
		Expect(p.Call(ctx, "echo_after", map[string]any{"token": "healed", "delay": 0}, &token)).To(Succeed())
		Expect(token).To(Equal("healed"))
		Expect(p.Workers()).To(HaveLen(1))
		Expect(p.Workers()[0].Pid()).NotTo(Equal(victim.Pid()), "a replacement serves")
		Expect(p.Workers()[0].Capacity()).To(Equal(32), "with the same concurrency")
	}, noHang)

	It("survives a cancel storm: 1000 calls, random cancels, every reply to its own caller, every place given back", func(ctx SpecContext) {
		const n, limit = 1000, 16
		w, err := realpy.Start(ctx, muxOptions(limit)...)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(w.Close)
		Expect(w.Capacity()).To(Equal(limit))

		rng := rand.New(rand.NewPCG(uint64(GinkgoRandomSeed()), 26))
		type plan struct{ delay, cancelAfter time.Duration }
		plans := make([]plan, n)
		for i := range plans {
			plans[i] = plan{delay: time.Duration(rng.IntN(20)) * time.Millisecond, cancelAfter: time.Duration(rng.IntN(20)) * time.Millisecond}
			if i%2 == 0 { // half are never cancelled: however slow the machine, some answer
				plans[i].cancelAfter = time.Hour
			}
		}
		var mu sync.Mutex
		answered, cancelled := 0, 0
		var wrong []string
		var calls sync.WaitGroup
		for i, pl := range plans {
			calls.Go(func() {
				callCtx, cancel := context.WithTimeout(ctx, pl.cancelAfter)
				defer cancel()
				want := fmt.Sprintf("call-%d", i)
				var got string
				err := w.Call(callCtx, "echo_after", map[string]any{"token": want, "delay": pl.delay.Seconds()}, &got)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil && got == want:
					answered++
				case err == nil:
					wrong = append(wrong, fmt.Sprintf("%s got %q", want, got))
				case errors.Is(err, context.DeadlineExceeded) && callCtx.Err() != nil:
					cancelled++
				default:
					wrong = append(wrong, fmt.Sprintf("%s failed otherwise than by its context: %v", want, err))
				}
			})
		}
		calls.Wait()
		Expect(wrong).To(BeEmpty())
		Expect(answered + cancelled).To(Equal(n))
		Expect(answered).To(BeNumerically(">", 0), "some calls ended before their context")
		Expect(answered).To(BeNumerically(">=", n/2), "every call not cancelled is answered")
		Expect(cancelled).To(BeNumerically(">", 0), "some calls were cancelled")
		Expect(w.Err()).NotTo(HaveOccurred(), "the worker is kept: each cancel ended its own call")

		// Every place came back: limit calls that wait for each other all run at once.
		counts := make(chan int, limit)
		for range limit {
			go func() {
				var got int
				err := w.Call(ctx, "meet", map[string]any{"group": "after", "n": limit, "timeout": 30}, &got)
				Expect(err).NotTo(HaveOccurred())
				counts <- got
			}()
		}
		for range limit {
			Expect(<-counts).To(Equal(limit))
		}
		expectAlive(ctx, w)
	}, noHang)

	It("names a handler that blocks the event loop, answers the heartbeat meanwhile, and keeps the worker", func(ctx SpecContext) {
		started := make(chan int, 1)
		p, err := realpy.StartPool(ctx, muxOptions(4, realpy.WithSize(1), realpy.WithStrategy(realpy.Spawn),
			realpy.WithHeartbeat(20*time.Millisecond, 2),
			realpy.WithCallback("started", wire.CallbackFunc(func(_ context.Context, n int) (any, error) {
				started <- n
				return nil, nil
			})))...)
		DeferCleanup(p.Close)
		Expect(err).NotTo(HaveOccurred())
		w := p.Workers()[0]

		hogged := make(chan error, 1)
		go func() { hogged <- p.Call(ctx, "hog", map[string]any{"seconds": 2.0}, nil) }()
		Eventually(started).Should(Receive())
		Expect(w.Probe(ctx)).To(Succeed(), "the liveness channel answers from a thread of its own")
		// A ping the loop answers carries no loop_blocked; one that arrives
		// while the loop is blocked is answered by the reader thread.
		Eventually(func() realpy.Hello {
			var hello realpy.Hello
			Expect(w.Call(ctx, "ping", nil, &hello)).To(Succeed())
			return hello
		}).Should(And(HaveField("BlockedBy", MatchRegexp(`^handler 'hog' \(call \d+\)$`)), HaveField("LoopBlocked", BeNumerically(">=", 0.1))))
		Expect(<-hogged).To(Succeed())

		Eventually(w.Stderr().String).Should(MatchRegexp(`pyharness: handler 'hog' \(call \d+\) blocked the event loop for \d+\.\d{3} s`))
		Expect(p.Workers()).To(ConsistOf(w), "the heartbeat kept the worker")
		Expect(p.Stats().Spawned).To(BeEquivalentTo(1))
		var hello realpy.Hello
		Expect(w.Call(ctx, "ping", nil, &hello)).To(Succeed())
		Expect(hello.LoopBlocked).To(BeZero(), "the loop runs again")
	}, noHang)

	It("runs sync handlers in threads of their own with WithSyncThreads, so two of them overlap", func(ctx SpecContext) {
		w, err := realpy.Start(ctx, muxOptions(4, realpy.WithSyncThreads(2))...)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(w.Close)
		Expect(w.Hello().SyncThreads).To(Equal(2))
		threads := make(chan int64, 2)
		for range 2 {
			go func() {
				defer GinkgoRecover()
				var id int64
				Expect(w.Call(ctx, "rendezvous", map[string]any{"timeout": 30}, &id)).To(Succeed(), "each waits for the other: they run at once")
				threads <- id
			}()
		}
		Expect(<-threads).NotTo(Equal(<-threads))

		_, err = realpy.Start(ctx, realpy.WithSyncThreads(2))
		var optErr *realpy.OptionError
		Expect(errors.As(err, &optErr)).To(BeTrue())
		Expect(err).To(MatchError(ContainSubstring("WithSyncThreads on Start: given 2 threads without WithConcurrency(n > 1)")))
	}, noHang)

	It("serves calls one at a time on a worker that does not multiplex, whatever WithConcurrency asks", func(ctx SpecContext) {
		w := startWorker(ctx, realpy.WithConcurrency(8), realpy.WithPython(pythonWithoutMultiplex(ctx)))
		Expect(w.Capacity()).To(Equal(1))
		var hello realpy.Hello
		Expect(w.Call(ctx, "ping", nil, &hello)).To(Succeed())
		Expect(hello.Supports("multiplex")).To(BeFalse())
	}, noHang)
})

// pythonWithoutMultiplex is an interpreter wrapper that drops the worker's
// --concurrency flag: a worker of a version that serves one call at a time.
func pythonWithoutMultiplex(ctx context.Context) string {
	GinkgoHelper()
	python, err := realpyx.FindPython(ctx, "")
	Expect(err).NotTo(HaveOccurred())
	script := filepath.Join(GinkgoT().TempDir(), "python-one-at-a-time")
	Expect(os.WriteFile(script, []byte(`#!/bin/sh
skip=0
for a do
	shift
	if [ "$skip" = 1 ]; then skip=0; continue; fi
	if [ "$a" = --concurrency ]; then skip=1; continue; fi
	set -- "$@" "$a"
done
exec '`+python+`' "$@"
`), 0o755)).To(Succeed())
	return script
}
