package fault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jonboulle/clockwork"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/internal/realpyx"
	"github.com/pyharness/pyharness/isolation/leak"
	"github.com/pyharness/pyharness/realpy"
	"github.com/pyharness/pyharness/suites/internal/suite"
	"github.com/pyharness/pyharness/wire"
)

var _ = describe("Reliability", harness.Integration, harness.PythonReal, func() {
	It("answers valid but hostile requests exactly or with a typed error, and lives (#3)", func(ctx SpecContext) {
		w := startWorker(ctx)
		deep := json.RawMessage(strings.Repeat("[", 5000) + strings.Repeat("]", 5000))
		Expect(w.Call(ctx, "echo", deep, nil)).To(MatchError(wire.ErrBadRequest), "args nested 5,000 deep")
		expectAlive(ctx, w)

		n, _ := new(big.Int).SetString(strings.Repeat("9", 20000), 10)
		var back big.Int
		Expect(w.Call(ctx, "echo", n, &back)).To(Succeed(), "an integer of 20,000 digits")
		Expect(back.Cmp(n)).To(BeZero())

		Expect(w.Call(ctx, "broken_str", nil, nil)).To(MatchError(ContainSubstring("BrokenStr")), "an exception whose __str__ raises")
		Expect(w.Call(ctx, "fail", json.RawMessage(`{"type": "KeyError", "message": "\udfff"}`), nil)).To(
			MatchError(ContainSubstring("KeyError")), "a lone surrogate in the message keeps the type")
		expectAlive(ctx, w)

		small := startWorker(ctx, realpy.WithMaxFrame(wire.MinMaxFrame))
		err := small.Call(ctx, strings.Repeat("m", 900), nil, nil)
		Expect(err).To(MatchError(wire.ErrUnknownMethod), "an error reply cut to fit the smallest frame limit")
		Expect(small.Call(ctx, "big", 5000, nil)).To(MatchError(wire.ErrFrameTooLarge))
		expectAlive(ctx, small)
	}, noHang)

	It("merges WithEnv's PYTHONPATH into the worker's own (#6)", func(ctx SpecContext) {
		extra, err := filepath.Abs(suite.Testdata("fault", "extra"))
		Expect(err).NotTo(HaveOccurred())
		w := startWorker(ctx, realpy.WithEnv("PYTHONPATH="+extra), realpy.WithModules("extra_handlers"))
		var path string
		Expect(w.Call(ctx, "python_path", nil, &path)).To(Succeed())
		dirs := filepath.SplitList(path)
		Expect(dirs).To(ContainElement(extra))
		Expect(dirs[0]).To(ContainSubstring("worker-"), "the worker package comes first")
		Expect(w.Call(ctx, "unserializable", nil, nil)).To(HaveOccurred(), "WithPythonPath's modules are served too")
	}, noHang)

	It("opens its breaker only on failures of a worker, not on callers that gave up waiting for one (#5)", func(ctx SpecContext) {
		p, err := realpy.StartPool(ctx, realpy.WithSize(1), realpy.WithPythonPath(testdataDir()), realpy.WithModules("faulty_handlers"),
			realpy.WithBreaker(realpy.BreakerSettings{Failures: 3, OpenFor: time.Minute}))
		DeferCleanup(p.Close)
		Expect(err).NotTo(HaveOccurred())

		long := make(chan error, 1)
		go func() { long <- p.Call(ctx, "sleep", map[string]any{"seconds": 0.5, "announce": "busy"}, nil) }()
		Eventually(func() string { return p.Workers()[0].Stdout().String() }).Should(ContainSubstring("busy"))

		var waiters sync.WaitGroup
		for range 3 {
			waiters.Go(func() {
				defer GinkgoRecover()
				short, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
				defer cancel()
				Expect(p.Call(short, "echo", 1, nil)).To(MatchError(context.DeadlineExceeded))
			})
		}
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		Expect(p.Call(cancelled, "echo", 1, nil)).To(MatchError(context.Canceled))
		waiters.Wait()
		Expect(p.BreakerState()).To(Equal(realpy.BreakerClosed), "the worker is healthy: nobody reached it")

		Eventually(long).Should(Receive(BeNil()))
		Expect(p.Call(ctx, "echo", 1, nil)).To(Succeed())
	}, noHang)

	Describe("an interpreter that never becomes Python (#2)", func() {
		script := func(dir, name, body string) string {
			GinkgoHelper()
			Expect(os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)).To(Succeed())
			path := filepath.Join(dir, name)
			Expect(os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755)).To(Succeed())
			return path
		}

		It("bounds the resolution of a version manager's shim by Start's context, leaving nothing", func(ctx SpecContext) {
			shim := script(GinkgoT().TempDir(), "shims/python3", "sleep 1000 &\nexec sleep 1000")
			start, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			defer cancel()
			w, err := realpy.Start(start, realpy.WithPython(shim))
			Expect(w).To(BeNil())
			Expect(err).To(MatchError(context.DeadlineExceeded))
			Expect(err).To(MatchError(ContainSubstring(shim)))
		}, SpecTimeout(20*time.Second))

		It("does not count a shim's resolution against WithStartTimeout: it is once per process, not part of a start", func(ctx SpecContext) {
			dir := GinkgoT().TempDir()
			GinkgoT().Setenv("PYHARNESS_CACHE_DIR", filepath.Join(dir, "cache")) // a cold cache, and nothing left in the user's
			python, err := realpyx.FindPython(ctx, "")
			Expect(err).NotTo(HaveOccurred())
			// A version manager's shim that takes longer to choose than the
			// whole start may take (a cold pyenv on a loaded machine).
			shim := script(dir, "shims/python3", "sleep 1\necho "+python)
			w, err := realpy.Start(ctx, realpy.WithPython(shim), realpy.WithStartTimeout(900*time.Millisecond))
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(w.Close)
			expectAlive(ctx, w)
		}, SpecTimeout(20*time.Second))

		It("bounds a wrapper that never serves by Start's context, leaving nothing", func(ctx SpecContext) {
			wrapper := script(GinkgoT().TempDir(), "python-wrapper", "sleep 1000 &\nexec sleep 1000")
			start, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			defer cancel()
			_, err := realpy.Start(start, realpy.WithPython(wrapper))
			Expect(err).To(MatchError(context.DeadlineExceeded))
		}, SpecTimeout(20*time.Second))

		It("caches a shim's resolution between processes, and resolves again when a version file changes", func(ctx SpecContext) {
			dir := GinkgoT().TempDir()
			calls := filepath.Join(dir, "calls")
			shim := script(dir, "shims/python3", "echo run >> "+calls+"\necho /bin/sh")
			work := filepath.Join(dir, "project")
			Expect(os.Mkdir(work, 0o755)).To(Succeed())
			resolve := func() {
				GinkgoHelper()
				cmd := exec.CommandContext(ctx, os.Args[0], suite.Run)
				cmd.Dir = work
				cmd.Env = append(os.Environ(), findPythonChild+"=1", realpy.EnvPython+"="+shim, "PYHARNESS_CACHE_DIR="+filepath.Join(dir, "cache"))
				out, err := cmd.CombinedOutput()
				Expect(err).NotTo(HaveOccurred(), string(out))
				Expect(string(out)).To(ContainSubstring("resolved: /bin/sh <nil>"))
			}
			runs := func() int {
				b, _ := os.ReadFile(calls)
				return strings.Count(string(b), "run")
			}
			resolve()
			resolve()
			Expect(runs()).To(Equal(1), "the second process took the cached resolution")
			Expect(os.WriteFile(filepath.Join(work, ".python-version"), []byte("3.12\n"), 0o644)).To(Succeed())
			resolve()
			Expect(runs()).To(Equal(2), "a new .python-version resolves again")
		}, noHang)

		It("runs a wrapper as given, so its environment and flags apply", func(ctx SpecContext) {
			python, err := realpyx.FindPython(ctx, "")
			Expect(err).NotTo(HaveOccurred())
			wrapper := script(GinkgoT().TempDir(), "python-wrapper", "export WRAPPED=yes\nexec "+python+" -X dev \"$@\"")
			w := startWorker(ctx, realpy.WithPython(wrapper), realpy.WithModules("extra_handlers"),
				realpy.WithPythonPath(filepath.Join(testdataDir(), "extra")))
			var env struct {
				Wrapped string
				DevMode bool `json:"dev_mode"`
			}
			Expect(w.Call(ctx, "wrapped", nil, &env)).To(Succeed())
			Expect(env.Wrapped).To(Equal("yes"))
			Expect(env.DevMode).To(BeTrue())
		}, noHang)
	})

	Describe("errors that say what failed and what to do (#10)", func() {
		report := func(err error) {
			GinkgoHelper()
			Expect(err).To(HaveOccurred())
			GinkgoWriter.Printf("the error reads:\n%v\n", err)
		}

		It("names an interpreter that is not Python, and where its name came from", func(ctx SpecContext) {
			GinkgoT().Setenv(realpy.EnvPython, "/bin/false")
			_, err := realpy.Start(ctx)
			report(err)
			Expect(err).To(MatchError(wire.ErrWorkerExited))
			Expect(err.Error()).To(And(ContainSubstring("/bin/false"), ContainSubstring("$PYHARNESS_PYTHON"),
				ContainSubstring("ended before answering the readiness ping"), ContainSubstring("Set PYHARNESS_PYTHON")))
		}, noHang)

		It("names a wrapper that prints something else than a worker", func(ctx SpecContext) {
			wrapper := filepath.Join(GinkgoT().TempDir(), "not-python")
			Expect(os.WriteFile(wrapper, []byte("#!/bin/sh\necho 'Hello, I am not a python at all'\n"), 0o755)).To(Succeed())
			_, err := realpy.Start(ctx, realpy.WithPython(wrapper))
			report(err)
			Expect(err.Error()).To(And(ContainSubstring(wrapper), ContainSubstring("option WithPython"), ContainSubstring("is it Python")))
		}, noHang)

		It("shows what a module that hangs at import wrote, with the deadline error", func(ctx SpecContext) {
			_, err := realpy.Start(ctx, realpy.WithPythonPath(testdataDir()), realpy.WithModules("slow_import"),
				realpy.WithStartTimeout(500*time.Millisecond))
			report(err)
			Expect(err).To(MatchError(context.DeadlineExceeded))
			Expect(err.Error()).To(And(ContainSubstring("did not answer the readiness ping"), ContainSubstring("loading weights from the network")))
		}, noHang)

		It("says a module failed to import, with its traceback", func(ctx SpecContext) {
			_, err := realpy.Start(ctx, realpy.WithPythonPath(testdataDir()), realpy.WithModules("broken_import"))
			report(err)
			Expect(err.Error()).To(And(ContainSubstring("could not load a module"), ContainSubstring("libcuda.so.1")))
		}, noHang)

		It("blames a missing working directory, not the interpreter", func(ctx SpecContext) {
			_, err := realpy.Start(ctx, realpy.WithDir("/nonexistent/dir"))
			report(err)
			Expect(err.Error()).To(And(ContainSubstring("working directory"), ContainSubstring("/nonexistent/dir"), ContainSubstring("WithDir")))
		}, noHang)

		It("returns the start error from a call on a pool whose every start fails, even without a deadline", func(ctx SpecContext) {
			p, err := realpy.StartPool(ctx, realpy.WithSize(2), realpy.WithPythonPath(testdataDir()), realpy.WithModules("broken_import"))
			DeferCleanup(p.Close)
			report(err)
			err = p.Call(context.Background(), "echo", 1, nil)
			report(err)
			var none *realpy.NoWorkerError
			Expect(errors.As(err, &none)).To(BeTrue())
			Expect(err).To(MatchError(realpy.ErrPoolExhausted))
			Expect(err).To(MatchError(wire.ErrWorkerExited))
			Expect(err.Error()).To(ContainSubstring("libcuda.so.1"))
		}, noHang)
	})

	Describe("bounded growth (#9)", func() {
		It("keeps a bounded tail of a chatty worker's output and counts what it dropped", func(ctx SpecContext) {
			const limit = 64 << 10
			w := startWorker(ctx, realpy.WithOutputLimit(limit))
			var total int64
			Expect(w.Call(ctx, "chatter", map[string]int{"lines": 5000, "width": 1024}, &total)).To(Succeed())
			Eventually(func() int64 { return w.Stdout().Dropped() + int64(len(w.Stdout().Contents())) }).Should(Equal(total))
			Expect(len(w.Stdout().Contents())).To(Equal(limit))
			Expect(w.Stdout().Dropped()).To(Equal(total - limit))
			Expect(w.Stdout().String()).To(HaveSuffix(strings.Repeat("x", 1023) + "\n"))
		}, noHang)

		It("forgets idle sessions after the TTL, and ends one on request", func(ctx SpecContext) {
			clock := clockwork.NewFakeClock()
			p, err := realpy.StartPool(ctx, realpy.WithSize(2), realpyx.WithClock[realpy.Option](clock), realpy.WithSessionTTL(time.Minute))
			DeferCleanup(p.Close)
			Expect(err).NotTo(HaveOccurred())
			for i := range 5000 {
				Expect(p.Call(wire.WithSession(ctx, fmt.Sprintf("s-%d", i)), "echo", i, nil)).To(Succeed())
			}
			Expect(p.Sessions()).To(Equal(5000))

			Expect(p.EndSession(ctx, "s-7")).To(Succeed())
			Expect(p.Sessions()).To(Equal(4999))

			clock.Advance(2 * time.Minute)
			Expect(p.Call(wire.WithSession(ctx, "fresh"), "echo", 1, nil)).To(Succeed())
			Expect(p.Sessions()).To(Equal(1), "only the session used after the TTL is left")
		}, noHang)
	})

	Describe("a slow handler is not a stuck worker (#7)", func() {
		var p *realpy.Pool
		var sub *realpy.Subscription
		BeforeEach(func(ctx SpecContext) {
			var err error
			p, err = realpy.StartPool(ctx, realpy.WithSize(1), realpy.WithPythonPath(testdataDir()), realpy.WithModules("faulty_handlers"),
				realpy.WithHeartbeat(100*time.Millisecond, 3), realpy.WithStrategy(realpy.ZygoteFork))
			DeferCleanup(p.Close)
			Expect(err).NotTo(HaveOccurred())
			sub = p.Subscribe()
			DeferCleanup(sub.Close)
		})

		It("keeps a worker that runs Python for longer than its heartbeats allow, sleeping or computing", func(ctx SpecContext) {
			pid := p.Workers()[0].Pid()
			Expect(p.Call(ctx, "sleep", 0.5, nil)).To(Succeed()) // heartbeats: 3 x 100 ms
			var n int
			Expect(p.Call(ctx, "spin", 0.5, &n)).To(Succeed())
			Expect(n).To(BeNumerically(">", 0))
			Expect(p.Workers()[0].Pid()).To(Equal(pid))
			Consistently(sub.C).ShouldNot(Receive(HaveField("Kind", realpy.EventCrashed)))
		}, noHang)

		It("kills a stopped worker (SIGSTOP) and replaces it", func(ctx SpecContext) {
			stopped := p.Workers()[0]
			Expect(stopped.Signal(syscall.SIGSTOP)).To(Succeed())
			var crashed realpy.Event
			Eventually(sub.C).WithTimeout(10 * time.Second).Should(Receive(&crashed, HaveField("Kind", realpy.EventCrashed)))
			Expect(crashed.WorkerID).To(Equal(stopped.ID()))
			Expect(crashed.Cause).To(MatchError(ContainSubstring("health check")))
			Eventually(sub.C).WithTimeout(10 * time.Second).Should(Receive(HaveField("Kind", realpy.EventReplaced)))
			Expect(p.Call(ctx, "echo", 1, nil)).To(Succeed())
		}, noHang)

		It("kills a worker stuck in C code that holds the GIL", func(ctx SpecContext) {
			err := p.Call(ctx, "hang", map[string]bool{"in_c": true}, nil)
			Expect(err).To(MatchError(wire.ErrWorkerExited))
			Expect(err).To(MatchError(ContainSubstring("health check")))
		}, noHang)
	})

	Describe("a zygote nobody else can stall or use (#8)", func() {
		It("forks for others while a connection sends nothing, keeps its socket private, and refuses a missing secret", func(ctx SpecContext) {
			z, err := realpy.StartZygote(ctx, realpy.WithPythonPath(testdataDir()), realpy.WithModules("faulty_handlers"))
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(z.Close)
			addr, secret, _ := strings.Cut(strings.TrimPrefix(z.Addr(), "unix:"), "#")
			Expect(secret).NotTo(BeEmpty())
			st, err := os.Stat(filepath.Dir(addr))
			Expect(err).NotTo(HaveOccurred())
			Expect(st.Mode().Perm()).To(Equal(os.FileMode(0o700)), "the socket's directory is private")

			silent, err := net.Dial("unix", addr)
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(silent.Close)
			_, err = silent.Write([]byte{0, 0, 0, 100}) // half a frame, then nothing

			forkCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			w, err := z.Fork(forkCtx)
			Expect(err).NotTo(HaveOccurred(), "a silent connection stalls no fork")
			DeferCleanup(w.Close)
			expectAlive(ctx, w)

			intruder, err := net.Dial("unix", addr)
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(intruder.Close)
			frame, err := wire.AppendFrame(nil, []byte(`{"id": 1, "method": "fork", "args": {"worker_id": "mine"}}`), wire.DefaultMaxFrame)
			Expect(err).NotTo(HaveOccurred())
			_, err = intruder.Write(frame)
			Expect(err).NotTo(HaveOccurred())
			Expect(intruder.SetReadDeadline(time.Now().Add(5 * time.Second))).To(Succeed())
			n, err := intruder.Read(make([]byte, 1))
			Expect(n).To(BeZero())
			Expect(err).To(MatchError(io.EOF), "closed without an answer")
			Eventually(z.Stderr().String).Should(ContainSubstring("rejected a connection: wrong or missing secret"))

			_, err = realpyx.AttachZygote[realpy.Zygote, realpy.Option](ctx, "unix:"+addr+"#not-the-secret")
			Expect(err).To(HaveOccurred(), "a wrong secret cannot attach")
			Expect(z.Forks()).To(Equal(int64(1)))
		}, noHang)
	})

	Describe("stuck processes (#1): calls end by their deadline, Close ends, nothing is left", func() {
		// measured reports how long f took, for the stuck matrix in the
		// issue note; the specs' timeouts are what bound it.
		measured := func(what string, f func()) {
			start := time.Now()
			f()
			GinkgoWriter.Printf("stuck matrix: %s took %v\n", what, time.Since(start).Round(time.Millisecond))
		}
		stateOf := func(pid int) string {
			procs, err := leak.ProcessesOwnedBy(os.Getpid())
			Expect(err).NotTo(HaveOccurred())
			for _, p := range procs {
				if p.Pid == pid {
					return p.State
				}
			}
			return "gone"
		}
		callWithDeadline := func(ctx context.Context, c interface {
			Call(context.Context, string, any, any) error
		}) {
			short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			defer cancel()
			Expect(c.Call(short, "sleep", 5, nil)).To(MatchError(context.DeadlineExceeded))
		}

		It("a stopped worker", func(ctx SpecContext) {
			w, err := realpy.Start(ctx, realpy.WithGrace(time.Second))
			Expect(err).NotTo(HaveOccurred())
			Expect(w.Signal(syscall.SIGSTOP)).To(Succeed())
			measured("SIGSTOP worker: call with a 500 ms deadline", func() { callWithDeadline(ctx, w) })
			measured("SIGSTOP worker: Close", func() { Expect(w.Close()).To(Succeed()) })
			Expect(w.Exited()).To(BeClosed())
		}, SpecTimeout(10*time.Second))

		It("a stopped worker that is closed while idle", func(ctx SpecContext) {
			w, err := realpy.Start(ctx, realpy.WithGrace(time.Second))
			Expect(err).NotTo(HaveOccurred())
			Expect(w.Signal(syscall.SIGSTOP)).To(Succeed())
			Eventually(func() string { return stateOf(w.Pid()) }).Should(Equal("T"))
			measured("SIGSTOP idle worker: Close", func() { Expect(w.Close()).To(Succeed()) })
			Expect(w).To(gexec.Exit(137))
		}, SpecTimeout(10*time.Second))

		It("a stopped zygote", func(ctx SpecContext) {
			p, err := realpy.StartPool(ctx, realpy.WithSize(2), realpy.WithStrategy(realpy.ZygoteFork), realpy.WithGrace(time.Second))
			Expect(err).NotTo(HaveOccurred())
			z := p.Zygote()
			Expect(syscall.Kill(z.Pid(), syscall.SIGSTOP)).To(Succeed())
			measured("SIGSTOP zygote: call on a forked worker with a 500 ms deadline", func() { callWithDeadline(ctx, p) })
			measured("SIGSTOP zygote: pool Close", func() { Expect(p.Close()).To(Succeed()) })
			Expect(z.Exited()).To(BeClosed())
		}, SpecTimeout(20*time.Second))
	})
})

var _ = describe("Calls that talk back under faults (#16)", harness.Integration, harness.PythonReal, func() {
	It("ends a stream whose worker is killed mid-way with ErrWorkerExited, leaving no goroutine", func(ctx SpecContext) {
		w := startWorker(ctx)
		taken := 0
		var last error
		for _, err := range w.Stream(ctx, "stream_forever", nil) {
			if err != nil {
				last = err
				break
			}
			if taken++; taken == 3 {
				Expect(w.Kill()).To(Succeed())
			}
		}
		Expect(taken).To(BeNumerically(">=", 3))
		Expect(last).To(MatchError(wire.ErrWorkerExited))
		Expect(w.Call(ctx, "echo", 1, nil)).To(MatchError(wire.ErrWorkerExited), "later calls get the same cause")
	}, noHang)

	It("returns by the call's deadline when a Go function blocks past it, and keeps the worker", func(ctx SpecContext) {
		release := make(chan struct{})
		DeferCleanup(func() { close(release) }) // before the leak check: the blocked function returns
		w := startWorker(ctx, realpy.WithCallback("block", func(context.Context, json.RawMessage) (any, error) {
			<-release // ignores its context, as a careless function would
			return "too late", nil
		}))
		short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		Expect(w.Call(short, "ask_go", map[string]string{"name": "block"}, nil)).To(MatchError(context.DeadlineExceeded))
		var back string
		Expect(w.Call(ctx, "echo", "alive", &back)).To(Succeed(), "call_go raised Cancelled in the handler, which ended the call")
		Expect(back).To(Equal("alive"))
	}, noHang)

	It("lets a Go function called from Python call Python on another worker (nested)", func(ctx SpecContext) {
		inner := startWorker(ctx)
		outer := startWorker(ctx, realpy.WithCallback("double", wire.CallbackFunc(func(ctx context.Context, n int) (int, error) {
			var back int
			err := inner.Call(ctx, "echo", n*2, &back) // Python again, on another worker, within the outer call's context
			return back, err
		})))
		var got int
		Expect(outer.Call(ctx, "ask_go", map[string]any{"name": "double", "args": 21}, &got)).To(Succeed())
		Expect(got).To(Equal(42))
	}, noHang)

	It("turns a Go function's panic into a Python exception, not a crashed test binary", func(ctx SpecContext) {
		w := startWorker(ctx, realpy.WithCallback("panicky", func(context.Context, json.RawMessage) (any, error) { panic("the Go side broke") }))
		err := w.Call(ctx, "ask_go", map[string]string{"name": "panicky"}, nil)
		var pyErr *wire.PythonError
		Expect(errors.As(err, &pyErr)).To(BeTrue(), "got %v", err)
		Expect(pyErr.Type).To(Equal("GoError"), "Python's bridge.GoError, uncaught by the handler")
		Expect(pyErr.Message).To(ContainSubstring("the Go side broke"))
		Expect(pyErr.Traceback).To(ContainSubstring("call_go"))
		Expect(w.Call(ctx, "echo", 1, nil)).To(Succeed())
	}, noHang)
})
