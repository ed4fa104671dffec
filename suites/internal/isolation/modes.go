package isolation

import (
	"context"
	"os"
	"os/exec"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness"
	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/isolation"
	"github.com/pyharness/pyharness/isolation/leak"
	"github.com/pyharness/pyharness/mockpy"
	"github.com/pyharness/pyharness/realpy"
)

var _ = describe("Isolation modes", func() {
	if nested != "" {
		return
	}

	Describe("basic", func() {
		mode := isolation.Basic()
		var ids []string
		for i := range 2 {
			It("gives each spec its own id and mock", func(ctx SpecContext) {
				ids = append(ids, mode.ID())
				Expect(mode.ID()).To(MatchRegexp(`^spec-p\d+-[0-9a-f]{8}$`))
				mode.Mock().AppendHandlers(mockpy.Respond(i))
				Expect(mode.Mock().Call(ctx, "anything", nil, nil)).To(Succeed())
				Expect(mode.Mock().Calls()).To(HaveLen(1), "a fresh mock per spec")
				if len(ids) == 2 {
					Expect(ids[0]).NotTo(Equal(ids[1]))
				}
			})
		}
	})

	Describe("registry", func() {
		mode := isolation.Registry(nil)
		It("namespaces names by the spec id and accepts released names", func() {
			name := mode.Name("queue")
			Expect(name).To(HaveSuffix(mode.ID()))
			mode.Register(name)
			mode.Release(name)
		})
	})

	Describe("registry with Python sessions", harness.Integration, func() {
		mode := isolation.Registry(func() pyharness.Caller { return python.Pool() })
		It("passes when the spec resets its sessions", func(ctx SpecContext) {
			s := mode.Session(ctx, "cart")
			var n int
			Expect(python.Pool().Call(s, "remember", "apple", &n)).To(Succeed())
			Expect(n).To(Equal(1))
			Expect(python.Pool().Call(s, "reset", nil, nil)).To(Succeed())
		})

		It("passes when the spec clears them with Reset, on every worker", func(ctx SpecContext) {
			s := mode.Session(ctx, "basket")
			for range 3 {
				Expect(python.Pool().Call(s, "remember", "pear", nil)).To(Succeed())
			}
			Expect(isolation.SessionsOf(ctx, python.Pool())).To(ContainElement(mode.Name("basket")))
			Expect(mode.Reset(ctx, "basket")).To(Succeed())
			Expect(isolation.SessionsOf(ctx, python.Pool())).NotTo(ContainElement(mode.Name("basket")))
		})
	})

	Describe("signal routing", harness.Integration, func() {
		mode := isolation.SignalRouting(func() *realpy.Pool { return python.Pool() })
		It("routes the events of watched workers and their replacements only", func(ctx SpecContext) {
			p := python.Pool()
			workers := p.Workers()
			Expect(workers).To(HaveLen(2))
			unwatched, watched := workers[0], workers[1]
			mode.Watch(watched)

			own := p.Subscribe()
			defer own.Close()
			Expect(unwatched.Kill()).To(Succeed())
			Eventually(own.C).Should(Receive(And(HaveField("Kind", realpy.EventReplaced), HaveField("Replaces", unwatched.ID()))))

			Expect(watched.Kill()).To(Succeed())
			first, err := mode.Next(ctx, realpy.EventCrashed)
			Expect(err).NotTo(HaveOccurred())
			Expect(first.WorkerID).To(Equal(watched.ID()), "the unwatched worker's events were not routed here")
			replaced, err := mode.Next(ctx, realpy.EventReplaced)
			Expect(err).NotTo(HaveOccurred())
			Expect(replaced.Replaces).To(Equal(watched.ID()))
		}, SpecTimeout(time.Minute))
	})

	Describe("full isolation", harness.Integration, func() {
		mode := isolation.FullIsolation(func() *realpy.Pool { return python.Pool() })
		var earlier []*realpy.Worker
		for range 2 {
			It("gives each spec a private worker, gone afterwards", func(ctx SpecContext) {
				w := mode.Worker()
				for _, m := range python.Pool().Workers() {
					Expect(m.Pid()).NotTo(Equal(w.Pid()), "not a pool member")
				}
				for _, e := range earlier {
					Expect(e.Exited()).To(BeClosed(), "the previous spec's worker is gone")
					Expect(e.ID()).NotTo(Equal(w.ID()))
				}
				earlier = append(earlier, w)
				Expect(w.Call(ctx, "ping", nil, nil)).To(Succeed())
			}, SpecTimeout(time.Minute))
		}
	})

	Describe("contamination detection", func() {
		isolation.ContaminationDetection(nil)
		It("passes a spec that cleans up after itself", func() {
			f, err := os.CreateTemp("", "tidy-*.txt")
			Expect(err).NotTo(HaveOccurred())
			f.Close()
			Expect(os.Remove(f.Name())).To(Succeed())
			GinkgoT().Setenv("PYHARNESS_TIDY", "restored by Setenv's cleanup")
		})
	})

	Describe("contamination detection with a worker", harness.Integration, func() {
		isolation.ContaminationDetection(func() pyharness.Caller { return python.Pool().Workers()[0] })
		It("passes a spec that leaves Python as it found it", func(ctx SpecContext) {
			Expect(python.Pool().Workers()[0].Call(ctx, "remember", "x", nil)).To(Succeed())
			Expect(python.Pool().Workers()[0].Call(ctx, "reset", nil, nil)).To(Succeed())
		})
	})

	Describe("supervision testing", harness.Integration, func() {
		mode := isolation.SupervisionTesting(func() *realpy.Pool { return python.Pool() })
		It("kills a worker and waits for its replacement, on events", func(ctx SpecContext) {
			w := python.Pool().Workers()[0]
			old := mode.KillWorker(w)
			pid, err := mode.WaitForRestart(ctx, old)
			Expect(err).NotTo(HaveOccurred())
			Expect(pid).NotTo(Equal(w.Pid()))
			Expect(mode.BackToSize(ctx)).To(Succeed())
			Expect(python.Pool().Stats().Size).To(Equal(python.Pool().Size()))
		}, SpecTimeout(time.Minute))

		It("reports a restart that never comes as an error, not a silence", func(ctx SpecContext) {
			short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			defer cancel()
			_, err := mode.WaitForRestart(short, "no-such-worker")
			Expect(err).To(MatchError(context.DeadlineExceeded))
			Expect(err).To(MatchError(ContainSubstring("was not replaced")))
		}, SpecTimeout(time.Minute))
	})

	Describe("pool testing", Ordered, harness.Integration, func() {
		mode := isolation.PoolTesting(realpy.WithSize(1), realpy.WithPythonPath(testdata()), realpy.WithModules("cart"))
		var pid int
		It("gives the container a private pool", func(ctx SpecContext) {
			var n int
			Expect(mode.Pool().Call(ctx, "remember", "a", &n)).To(Succeed())
			Expect(n).To(Equal(1))
			pid = mode.Pool().Workers()[0].Pid()
		})
		It("shares it between the container's specs, in order", func(ctx SpecContext) {
			var n int
			Expect(mode.Pool().Call(ctx, "remember", "b", &n)).To(Succeed())
			Expect(n).To(Equal(2))
			Expect(mode.Pool().Workers()[0].Pid()).To(Equal(pid))
		})
	})
})

var _ = describe("The suite's shared pool", harness.Integration, func() {
	if nested != "" {
		return
	}
	It("forks this process's workers from the one pool host", func(ctx SpecContext) {
		p := python.Pool()
		Expect(p.Zygote().Attached()).To(BeTrue())
		Expect(p.Stats().Spawned).To(BeZero(), "this process started no interpreter of its own")
		Expect(p.Call(ctx, "ping", nil, nil)).To(Succeed())
	})
})

var _ = describe("Leak checks through their API", func() {
	if nested != "" {
		return
	}
	take := func(ctx context.Context, opts ...leak.SnapshotOption) *leak.Snapshot {
		GinkgoHelper()
		s, err := leak.Take(ctx, append(opts, leak.IgnoreGoroutines(leak.IgnoreGinkgo()...))...)
		Expect(err).NotTo(HaveOccurred())
		return s
	}

	It("finds a child process left running", func(ctx SpecContext) {
		before := take(ctx)
		cmd := exec.Command("sleep", "30")
		Expect(cmd.Start()).To(Succeed())
		diff := before.Diff(take(ctx))
		Expect(cmd.Process.Kill()).To(Succeed())
		Expect(cmd.Wait()).To(HaveOccurred())
		Expect(diff.Processes).To(ConsistOf(ContainSubstring("sleep 30")))
		Expect(diff.String()).To(ContainSubstring("processes left running"))
	})

	It("finds a Python module imported", harness.Integration, func(ctx SpecContext) {
		w := python.Pool().Workers()[0]
		before := take(ctx, leak.WithPython(w))
		Expect(w.Call(ctx, "import_something", "colorsys", nil)).To(Succeed())
		diff := before.Diff(take(ctx, leak.WithPython(w)))
		Expect(diff.Modules).To(ContainElement("+ colorsys"))
	})
})
