package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/internal/realpyx"
	"github.com/pyharness/pyharness/internal/workersrc"
	"github.com/pyharness/pyharness/isolation/leak"
	"github.com/pyharness/pyharness/realpy"
	"github.com/pyharness/pyharness/wire"
)

var noHang = SpecTimeout(time.Minute)

var _ = describe("Starting a worker", harness.Integration, harness.PythonReal, func() {
	It("returns once the worker answers its readiness ping", func(ctx SpecContext) {
		w := startWorker(ctx, realpyx.WithWorkerID[realpy.Option]("reader-1"))
		hello := w.Hello()
		Expect(hello.Pid).To(Equal(w.Pid()))
		Expect(hello.WorkerID).To(Equal("reader-1"))
		Expect(hello.Protocol).To(Equal(wire.ProtocolVersion))
		Expect(hello.Python).To(MatchRegexp(`^3\.\d+\.\d+`))
		Expect(w.ExitCode()).To(Equal(-1))
		Expect(w.Exited()).NotTo(BeClosed())
	}, noHang)

	It("runs in a process group of its own, marked with its owner", func(ctx SpecContext) {
		w := startWorker(ctx)
		procs, err := leak.OwnedProcesses()
		Expect(err).NotTo(HaveOccurred())
		Expect(procs).To(ContainElement(And(
			HaveField("Pid", w.Pid()),
			HaveField("Pgid", w.Pid()),
			HaveField("PPid", os.Getpid()),
		)))
	}, noHang)

	It("counts a zygote's fork as its owner's once named for it, not by the environment it inherited", func(ctx SpecContext) {
		// A zygote's fork carries the zygote's environment, whose owner mark
		// names the zygote's owner; until it names itself "pyh:<owner>" (its
		// first step) it belongs to nobody yet, so that another process's
		// leak check never takes it for its own.
		// The waits below are for a python3 process started through the
		// shim, under -race and -p: a second is not enough on a loaded
		// machine (CI found it), a minute is only a bound.
		script := `import ctypes, os, sys
pid = os.fork()
if pid == 0:
    sys.stdin.readline()
    ctypes.CDLL(None).prctl(15, ("pyh:" + sys.argv[2]).encode(), 0, 0, 0)
    print("named", flush=True)
    sys.stdin.readline()
    os._exit(0)
print(pid, flush=True)
os.waitpid(pid, 0)
`
		cmd := exec.Command("python3", "-c", script, "pyharness_worker.zygote", strconv.Itoa(os.Getpid()))
		cmd.Env = append(os.Environ(), realpy.EnvOwnerPid+"="+strconv.Itoa(os.Getpid()))
		stdin, err := cmd.StdinPipe()
		Expect(err).NotTo(HaveOccurred())
		session, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() {
			_ = stdin.Close() // the fork ends at the end of its input
			session.Kill().Wait()
		})
		Eventually(session).WithTimeout(time.Minute).Should(gbytes.Say(`(\d+)\n`))
		var fork int
		_, err = fmt.Sscan(string(session.Out.Contents()), &fork)
		Expect(err).NotTo(HaveOccurred())

		pids := func() []int {
			procs, err := leak.OwnedProcesses()
			Expect(err).NotTo(HaveOccurred())
			var pids []int
			for _, p := range procs {
				pids = append(pids, p.Pid)
			}
			return pids
		}
		Expect(pids()).To(And(ContainElement(cmd.Process.Pid), Not(ContainElement(fork))), "the zygote is ours (our child); its unnamed fork nobody's yet")
		_, err = io.WriteString(stdin, "name yourself\n")
		Expect(err).NotTo(HaveOccurred())
		Eventually(session).WithTimeout(time.Minute).Should(gbytes.Say("named"))
		Expect(pids()).To(ContainElement(fork), "named pyh:<our pid>, the fork is ours")
		Expect(stdin.Close()).To(Succeed())
		Eventually(session).WithTimeout(time.Minute).Should(gexec.Exit(0))
	}, noHang)

	It("serves the handlers of the modules named at start", func(ctx SpecContext) {
		w := startWorker(ctx)
		var info struct {
			Methods []string `json:"methods"`
			Modules []string `json:"modules"`
		}
		Expect(w.Call(ctx, "info", nil, &info)).To(Succeed())
		Expect(info.Modules).To(Equal([]string{"shop"}))
		Expect(info.Methods).To(ContainElements("add", "add_to_cart", "ping", "echo"))
		Expect(info.Methods).NotTo(ContainElement("current"), "imported names are not methods")

		var sum int
		Expect(w.Call(ctx, "add", map[string]int{"a": 2, "b": 40}, &sum)).To(Succeed())
		Expect(sum).To(Equal(42))
	}, noHang)

	It("fails with the exit status and stderr when a module cannot be imported", func(ctx SpecContext) {
		w, err := realpy.Start(ctx, realpy.WithModules("no_such_module_xyz"))
		Expect(w).To(BeNil())
		Expect(err).To(MatchError(wire.ErrWorkerExited))
		var exited *wire.WorkerExitedError
		Expect(errors.As(err, &exited)).To(BeTrue())
		Expect(exited.Code).To(Equal(2))
		Expect(exited.Stderr).To(ContainElement(ContainSubstring("No module named 'no_such_module_xyz'")))
	}, noHang)

	It("gives up when its context ends during start, leaving nothing running", func(ctx SpecContext) {
		startCtx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		w, err := realpy.Start(startCtx, realpy.WithPythonPath(testdata()), realpy.WithModules("slow_import"), realpy.WithGrace(100*time.Millisecond))
		Expect(w).To(BeNil())
		Expect(err).To(MatchError(context.DeadlineExceeded))
	}, noHang)

	It("says how to fix a missing interpreter", func(ctx SpecContext) {
		_, err := realpy.Start(ctx, realpy.WithPython("/nonexistent/python3"))
		Expect(err).To(MatchError(ContainSubstring(realpy.EnvPython)))
	}, noHang)
})

var _ = describe("Calls", harness.Integration, harness.PythonReal, func() {
	It("keeps per-session state apart and clears it on reset", func(ctx SpecContext) {
		w := startWorker(ctx)
		alice, bob := wire.WithSession(ctx, "alice"), wire.WithSession(ctx, "bob")
		var cart []string
		Expect(w.Call(alice, "add_to_cart", "apple", &cart)).To(Succeed())
		Expect(w.Call(bob, "add_to_cart", "bread", &cart)).To(Succeed())
		Expect(w.Call(alice, "add_to_cart", "pear", &cart)).To(Succeed())
		Expect(cart).To(Equal([]string{"apple", "pear"}))

		Expect(w.Call(alice, "reset", nil, nil)).To(Succeed())
		Expect(w.Call(alice, "add_to_cart", "plum", &cart)).To(Succeed())
		Expect(cart).To(Equal([]string{"plum"}))
		Expect(w.Call(bob, "add_to_cart", "milk", &cart)).To(Succeed())
		Expect(cart).To(Equal([]string{"bread", "milk"}))
	}, noHang)

	It("passes the context deadline to the handler", func(ctx SpecContext) {
		w := startWorker(ctx)
		deadline := time.Now().Add(time.Hour)
		callCtx, cancel := context.WithDeadline(ctx, deadline)
		defer cancel()
		var got int64
		Expect(w.Call(callCtx, "deadline", nil, &got)).To(Succeed())
		Expect(got).To(Equal(deadline.UnixMilli()))
	}, noHang)

	It("answers many concurrent callers, each with its own reply", func(ctx SpecContext) {
		w := startWorker(ctx)
		var wg sync.WaitGroup
		errs := make(chan error, 50)
		for i := range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var sum int
				if err := w.Call(ctx, "add", map[string]int{"a": i, "b": 1000}, &sum); err != nil {
					errs <- err
				} else if sum != i+1000 {
					errs <- fmt.Errorf("caller %d got %d", i, sum)
				}
			}()
		}
		wg.Wait()
		close(errs)
		Expect(errs).To(BeEmpty())
	}, noHang)

	It("copies output to the given writer, prefixed with the worker id", func(ctx SpecContext) {
		out := gbytes.NewBuffer()
		w := startWorker(ctx, realpy.WithOutput(out), realpyx.WithWorkerID[realpy.Option]("w7"))
		Expect(w.Call(ctx, "print", map[string]string{"stdout": "hello", "stderr": "warning"}, nil)).To(Succeed())
		Eventually(out).Should(gbytes.Say(`\[w7 stdout\] hello`))
		Eventually(w.Stderr().String).Should(ContainSubstring("warning"))
	}, noHang)

	It("ends on the shutdown method, exit code 0", func(ctx SpecContext) {
		w := startWorker(ctx)
		Expect(w.Call(ctx, "shutdown", nil, nil)).To(Succeed())
		Eventually(w).Should(gexec.Exit(0))
		Expect(w.Call(ctx, "ping", nil, nil)).To(MatchError(wire.ErrWorkerExited))
	}, noHang)

	It("ends cleanly on SIGTERM", func(ctx SpecContext) {
		w := startWorker(ctx)
		Expect(w.Signal(syscall.SIGTERM)).To(Succeed())
		Eventually(w).Should(gexec.Exit(0))
		Expect(w.Call(ctx, "ping", nil, nil)).To(MatchError(wire.ErrWorkerExited))
	}, noHang)
})

var _ = describe("Closing a worker", harness.Integration, harness.PythonReal, func() {
	It("shuts an idle worker down cleanly", func(ctx SpecContext) {
		w := startWorker(ctx)
		Expect(w.Close()).To(Succeed())
		Expect(w).To(gexec.Exit(0))
		Expect(w.Close()).To(Succeed(), "Close is idempotent")
		Expect(w.Call(ctx, "ping", nil, nil)).To(MatchError(wire.ErrClosed))
	}, noHang)

	It("interrupts a busy worker with SIGTERM and fails its call with ErrClosed", func(ctx SpecContext) {
		w := startWorker(ctx, realpy.WithGrace(200*time.Millisecond))
		result := make(chan error, 1)
		go func() { result <- w.Call(ctx, "hang", map[string]any{"announce": "hanging"}, nil) }()
		Eventually(w.Stdout().String).Should(ContainSubstring("hanging"))

		Expect(w.Close()).To(Succeed())
		Expect(w).To(gexec.Exit(0), "SIGTERM ends the worker cleanly")
		Eventually(result).Should(Receive(MatchError(wire.ErrClosed)))
	}, noHang)

	It("kills a worker that ignores SIGTERM", func(ctx SpecContext) {
		w := startWorker(ctx, realpy.WithGrace(200*time.Millisecond))
		result := make(chan error, 1)
		go func() {
			result <- w.Call(ctx, "hang", map[string]any{"ignore_term": true, "announce": "stubborn"}, nil)
		}()
		Eventually(w.Stdout().String).Should(ContainSubstring("stubborn"))

		Expect(w.Close()).To(Succeed())
		Expect(w).To(gexec.Exit(137))
		Eventually(result).Should(Receive(MatchError(wire.ErrClosed)))
	}, noHang)

	It("succeeds after the worker died on its own", func(ctx SpecContext) {
		w := startWorker(ctx)
		Expect(w.Kill()).To(Succeed())
		Eventually(w.Exited()).Should(BeClosed())
		Expect(w.Close()).To(Succeed())
		Expect(w.Signal(syscall.SIGTERM)).To(Succeed(), "signalling a reaped worker is a no-op")
	}, noHang)

	It("answers every call after its death with the same exit error, before and after Close", func(ctx SpecContext) {
		w := startWorker(ctx)
		Expect(w.Call(ctx, "crash", map[string]any{"code": 7, "stderr": "going down"}, nil)).To(MatchError(wire.ErrWorkerExited))
		Eventually(w.Exited()).Should(BeClosed())
		var before *wire.WorkerExitedError
		Expect(errors.As(w.Call(ctx, "echo", 1, nil), &before)).To(BeTrue())
		Expect(before.Code).To(Equal(7))
		Expect(before.Stderr).To(ContainElement(ContainSubstring("going down")))

		Expect(w.Close()).To(Succeed())
		var after *wire.WorkerExitedError
		err := w.Call(ctx, "echo", 1, nil)
		Expect(errors.As(err, &after)).To(BeTrue(), "not wire.ErrClosed: %v", err)
		Expect(after).To(BeIdenticalTo(before))
	}, noHang)

	DescribeTable("takes down what the worker spawned",
		func(ctx SpecContext, end func(*realpy.Worker)) {
			w := startWorker(ctx)
			var child int
			Expect(w.Call(ctx, "spawn_child", nil, &child)).To(Succeed())
			Expect(leak.ProcessAlive(child)).To(BeTrue())

			end(w)
			Eventually(w.Exited()).Should(BeClosed())
			Eventually(func() bool { return leak.ProcessAlive(child) }).Should(BeFalse())
		},
		Entry("on Close", func(w *realpy.Worker) { Expect(w.Close()).To(Succeed()) }, noHang),
		Entry("when the worker crashes", func(w *realpy.Worker) {
			Expect(w.Call(context.Background(), "crash", map[string]int{"code": 9}, nil)).To(MatchError(wire.ErrWorkerExited))
		}, noHang),
	)
})

var _ = describe("Finding the interpreter", func() {
	It("prefers the option, then $PYHARNESS_PYTHON, then python3 on PATH", harness.Integration, func() {
		real, err := realpyx.FindPython(context.Background(), "")
		Expect(err).NotTo(HaveOccurred())

		dir := GinkgoT().TempDir()
		Expect(os.Mkdir(filepath.Join(dir, "shims"), 0o755)).To(Succeed())
		shim := filepath.Join(dir, "shims", "python3")
		Expect(os.WriteFile(shim, []byte("#!/bin/sh\nexec "+real+" \"$@\"\n"), 0o755)).To(Succeed())
		wrapper := filepath.Join(dir, "python-wrapper")
		Expect(os.WriteFile(wrapper, []byte("#!/bin/sh\nexec "+real+" -X dev \"$@\"\n"), 0o755)).To(Succeed())

		GinkgoT().Setenv(realpy.EnvPython, "/nonexistent/from-env")
		_, err = realpyx.FindPython(context.Background(), "")
		Expect(err).To(MatchError(ContainSubstring("from-env")))

		Expect(realpyx.FindPython(context.Background(), shim)).To(Equal(real), "a version manager's shim resolves to the interpreter it runs")
		Expect(realpyx.FindPython(context.Background(), wrapper)).To(Equal(wrapper), "a wrapper runs as given: its flags and environment apply")
	})

	It("writes the embedded worker once per content hash", func() {
		GinkgoT().Setenv("PYHARNESS_CACHE_DIR", GinkgoT().TempDir())
		first, err := workersrc.Dir()
		Expect(err).NotTo(HaveOccurred())
		Expect(filepath.Join(first, "pyharness_worker", "__main__.py")).To(BeARegularFile())
		Expect(workersrc.Dir()).To(Equal(first))
	})
})
