package pool

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/realpy"
	"github.com/pyharness/pyharness/wire"
)

// holdings runs "hold" calls (testdata/held.py) that last until the spec
// releases them by name, and says in which order they reached a worker.
type holdings struct {
	arrived chan string // the name of each hold call, as its worker runs it
	mu      sync.Mutex
	free    map[string]chan struct{}
	done    map[string]chan error
}

func newHoldings() *holdings {
	h := &holdings{arrived: make(chan string, 64), free: map[string]chan struct{}{}, done: map[string]chan error{}}
	DeferCleanup(h.releaseAll) // also when a spec fails first
	return h
}

// call starts a hold call named name on p; it returns at once.
func (h *holdings) call(ctx context.Context, p *realpy.Pool, name string) {
	free, done := make(chan struct{}), make(chan error, 1)
	h.mu.Lock()
	h.free[name], h.done[name] = free, done
	h.mu.Unlock()
	callCtx := wire.WithCallbacks(ctx, map[string]wire.Callback{
		"hold": wire.CallbackFunc(func(ctx context.Context, _ any) (any, error) {
			h.arrived <- name
			select {
			case <-free:
			case <-ctx.Done():
			}
			return nil, nil
		}),
	})
	go func() { done <- p.Call(callCtx, "hold", name, nil) }()
}

// release lets the hold call name return.
func (h *holdings) release(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if free, ok := h.free[name]; ok {
		close(free)
		delete(h.free, name)
	}
}

func (h *holdings) releaseAll() {
	h.mu.Lock()
	names := make([]string, 0, len(h.free))
	for name := range h.free {
		names = append(names, name)
	}
	h.mu.Unlock()
	for _, name := range names {
		h.release(name)
	}
}

// result waits for the hold call name to return, and returns its error.
func (h *holdings) result(name string) error {
	GinkgoHelper()
	h.mu.Lock()
	done := h.done[name]
	h.mu.Unlock()
	var err error
	Eventually(done).Should(Receive(&err))
	return err
}

// gates is the GATE_DIR of testdata/gated_import.py: it holds or fails the
// start of chosen interpreters, numbered in the order they import it.
type gates string

func newGates() gates { return gates(GinkgoT().TempDir()) }

func (g gates) env() realpy.Option { return realpy.WithEnv("GATE_DIR=" + string(g)) }

// hold makes the start of interpreter n wait until open(n).
func (g gates) hold(n int) {
	GinkgoHelper()
	Expect(syscall.Mkfifo(filepath.Join(string(g), fmt.Sprintf("gate-%d", n)), 0o600)).To(Succeed())
}

// open lets interpreter n's start, held by hold(n), go on.
func (g gates) open(n int) {
	GinkgoHelper()
	f, err := os.OpenFile(filepath.Join(string(g), fmt.Sprintf("gate-%d", n)), os.O_WRONLY, 0) // the held import reads it
	Expect(err).NotTo(HaveOccurred())
	Expect(f.Close()).To(Succeed())
}

// fail makes interpreter n's import fail.
func (g gates) fail(n int) {
	GinkgoHelper()
	Expect(os.WriteFile(filepath.Join(string(g), fmt.Sprintf("fail-%d", n)), nil, 0o600)).To(Succeed())
}

// reached polls whether interpreter n has begun its import; it returns
// its pid once it has.
func (g gates) reached(n int) func() int {
	return func() int {
		b, err := os.ReadFile(filepath.Join(string(g), fmt.Sprintf("slot-%d", n)))
		if err != nil {
			return 0
		}
		pid, _ := strconv.Atoi(string(b))
		return pid
	}
}

func gone(pid int) bool { return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) }

// A lazy pool (WithLazy) starts one worker up front and more as calls
// queue, up to its size, a bounded number at a time: the same readiness,
// fairness, healing and Close promises as a pool that starts them all.
var _ = describe("A lazy pool", harness.Integration, harness.PythonReal, func() {
	for _, strategy := range []realpy.Strategy{realpy.Spawn, realpy.ZygoteFork} {
		DescribeTable(fmt.Sprintf("starts one worker, and grows to min(callers, size) for concurrent callers, never beyond (%s)", strategy),
			func(ctx SpecContext, callers, size int) {
				g := newGates()
				p := startPool(ctx, realpy.WithSize(size), realpy.WithLazy(), realpy.WithStrategy(strategy),
					realpy.WithModules("held", "gated_import"), g.env())
				started := func() int64 { s := p.Stats(); return s.Spawned + s.Forked }
				interpreters := int64(0)
				if strategy == realpy.ZygoteFork {
					interpreters = 1 // the zygote, spawned
				}
				Expect(p.Workers()).To(HaveLen(1), "one worker up front")
				Expect(started()).To(Equal(interpreters + 1))
				Expect(p.Call(ctx, "slot", nil, nil)).To(Succeed())
				Expect(started()).To(Equal(interpreters+1), "one caller at a time needs no second worker")

				h := newHoldings()
				for i := range callers {
					h.call(ctx, p, fmt.Sprintf("c%d", i))
				}
				served := min(callers, size)
				for range served {
					Eventually(h.arrived).Should(Receive())
				}
				Expect(p.Workers()).To(HaveLen(served))
				Eventually(p.Waiting).Should(Equal(callers - served))
				Expect(p.Stats().Starting).To(BeZero(), "nothing starts beyond the size")
				Expect(started()).To(Equal(interpreters + int64(served)))
				h.releaseAll() // the queued calls too: each returns as soon as a worker runs it
				for range callers - served {
					Eventually(h.arrived).Should(Receive())
				}
				for i := range callers {
					Expect(h.result(fmt.Sprintf("c%d", i))).To(Succeed())
				}
				Expect(started()).To(Equal(interpreters+int64(served)), "the queued calls were served by the workers there were")
				Expect(p.Workers()).To(HaveLen(served))
			},
			Entry("3 callers, size 4", noHang, 3, 4),
			Entry("6 callers, size 4", noHang, 6, 4))
	}

	It("keeps first come, first served while it grows: the first worker ready goes to the first waiting call", func(ctx SpecContext) {
		g := newGates()
		g.hold(1) // the start made for b waits at its import
		p := startPool(ctx, realpy.WithSize(3), realpy.WithLazy(), realpy.WithModules("held", "gated_import"), g.env())
		h := newHoldings()
		h.call(ctx, p, "a")
		Eventually(h.arrived).Should(Receive(Equal("a")))

		h.call(ctx, p, "b")
		Eventually(g.reached(1)).ShouldNot(BeZero(), "b's call started a worker, held at its import")
		Expect(p.Waiting()).To(Equal(1))
		h.call(ctx, p, "c") // starts another, which is ready first
		Eventually(h.arrived).Should(Receive(Equal("b")), "the worker started second goes to the call that waited first")
		Expect(p.Waiting()).To(Equal(1), "c waits for the held worker")
		g.open(1)
		Eventually(h.arrived).Should(Receive(Equal("c")))
		h.releaseAll()
		for _, name := range []string{"a", "b", "c"} {
			Expect(h.result(name)).To(Succeed())
		}
		Expect(p.Stats().Spawned).To(Equal(int64(3)))
	}, noHang)

	It("starts at most max(2, cores/2) workers at once while it grows", func(ctx SpecContext) {
		const size = 8
		g := newGates()
		for n := 1; n < size; n++ {
			g.hold(n) // every start made for the queue waits at its import
		}
		p := startPool(ctx, realpy.WithSize(size), realpy.WithLazy(), realpy.WithModules("held", "gated_import"), g.env())
		h := newHoldings()
		h.call(ctx, p, "a")
		Eventually(h.arrived).Should(Receive(Equal("a")))
		for n := 1; n < size; n++ {
			h.call(ctx, p, fmt.Sprintf("c%d", n))
		}
		Eventually(p.Waiting).Should(Equal(size - 1))
		limit := min(size-1, max(2, runtime.NumCPU()/2))
		Expect(p.Stats().Starting).To(Equal(limit), "the starts decided as the calls queued")
		for n := 1; n <= limit; n++ {
			Eventually(g.reached(n)).ShouldNot(BeZero())
		}
		g.open(1)
		Eventually(h.arrived).Should(Receive(), "the worker started goes to a waiting call")
		Eventually(g.reached(limit+1)).ShouldNot(BeZero(), "a start that ends lets the next begin")
		Expect(p.Stats().Starting).To(Equal(limit))
	}, noHang)

	It("gives a start that fails while it grows to the waiting call as a *LazyStartError, and stays usable", func(ctx SpecContext) {
		g := newGates()
		g.fail(1)
		p := startPool(ctx, realpy.WithSize(2), realpy.WithLazy(), realpy.WithModules("held", "gated_import"), g.env())
		h := newHoldings()
		h.call(ctx, p, "a")
		Eventually(h.arrived).Should(Receive(Equal("a")))

		h.call(ctx, p, "b")
		err := h.result("b")
		var lazy *realpy.LazyStartError
		Expect(errors.As(err, &lazy)).To(BeTrue(), "%v", err)
		Expect(lazy.Size).To(Equal(2))
		Expect(lazy.Workers).To(Equal(1))
		Expect(err).To(MatchError(realpy.ErrPoolExhausted))
		Expect(err).To(MatchError(wire.ErrWorkerExited))
		Expect(err).To(MatchError(ContainSubstring("gated import: slot 1 fails")))

		h.call(ctx, p, "c") // the next call that finds none free starts another
		Eventually(h.arrived).Should(Receive(Equal("c")))
		h.releaseAll()
		Expect(h.result("a")).To(Succeed())
		Expect(h.result("c")).To(Succeed())
		Expect(p.Workers()).To(HaveLen(2))
		Expect(p.Stats().Spawned).To(Equal(int64(3)), "the one up front, the one that failed, the one that served c")
	}, noHang)

	It("reaps a worker still starting when it closes, and the call waiting for it fails with wire.ErrClosed", func(ctx SpecContext) {
		g := newGates()
		g.hold(1) // the start made for b waits at its import
		p := startPool(ctx, realpy.WithSize(2), realpy.WithLazy(), realpy.WithModules("held", "gated_import"), g.env())
		first := p.Workers()[0].Pid()
		h := newHoldings()
		h.call(ctx, p, "a")
		Eventually(h.arrived).Should(Receive(Equal("a")))
		h.call(ctx, p, "b")
		Eventually(g.reached(1)).ShouldNot(BeZero())
		held := g.reached(1)()
		Expect(p.Waiting()).To(Equal(1))
		Expect(p.Stats().Starting).To(Equal(1))

		Expect(p.Close()).To(Succeed())
		Expect(gone(first)).To(BeTrue(), "the worker up front is reaped")
		Expect(gone(held)).To(BeTrue(), "the worker that was starting is reaped")
		Expect(h.result("b")).To(MatchError(wire.ErrClosed))
		Expect(h.result("a")).To(HaveOccurred(), "its worker was closed under it")
		Expect(p.Stats()).To(And(HaveField("Size", 0), HaveField("Starting", 0)))
	}, noHang)
})
