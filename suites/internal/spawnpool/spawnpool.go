package spawnpool

import (
	"os"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/harness"
)

var _ = describe("A shared pool with Spawn", harness.Integration, harness.PythonReal, func() {
	It("has no pool host: this process spawned its own workers, none forked", func(ctx SpecContext) {
		p := python.Pool()
		Expect(p.Zygote()).To(BeNil())
		stats := p.Stats()
		Expect(stats.Spawned).To(BeNumerically(">=", 1))
		Expect(stats.Forked).To(BeZero())
		for _, w := range p.Workers() {
			var me struct {
				Pid, Ppid int
				Threads   []string
			}
			Expect(w.Call(ctx, "whoami", nil, &me)).To(Succeed())
			Expect(me.Pid).To(Equal(w.Pid()))
			Expect(me.Ppid).To(Equal(os.Getpid()), "spawned by this Ginkgo process, not forked by a zygote")
			Expect(me.Threads).To(ContainElement("forkless-ticker"), "the module's thread runs: it was imported by this interpreter")
		}
	}, SpecTimeout(time.Minute))

	It("hands out fresh spawned workers", func(ctx SpecContext) {
		w, err := python.Pool().Fresh(ctx)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(w.Close)
		Expect(w.Call(ctx, "whoami", nil, nil)).To(Succeed())
		Expect(python.Pool().Stats().Forked).To(BeZero())
	}, SpecTimeout(time.Minute))
})
