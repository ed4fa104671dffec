package realpy

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/internal/realpyx"
)

// The hooks are typed any: a hook left unset, or set with another
// signature than its caller asserts, panics at the first call. Each is
// called here with realpy's types, as gotest, harness, the container
// backend and the suites call them. No Python is needed.
var _ = Describe("The plumbing reached through internal/realpyx", func() {
	ctx := context.Background()

	It("splits a shared pool's options between host and pool", func() {
		host, pool, err := realpyx.SplitShared(targetHost, WithModules("m"), WithSize(2))
		Expect(err).NotTo(HaveOccurred())
		Expect(host).To(HaveLen(1))
		Expect(host[0].String()).To(Equal("WithModules"))
		Expect(pool).To(HaveLen(1))
		Expect(pool[0].String()).To(Equal("WithSize"))
	})

	It("reads the strategy and reuse the options choose", func() {
		s, set := realpyx.StrategyOf[Strategy](WithStrategy(ZygoteFork))
		Expect(s).To(Equal(ZygoteFork))
		Expect(set).To(BeTrue())
		Expect(realpyx.ReuseOf(WithReuse(true))).To(BeTrue())
		Expect(realpyx.ReuseOf(WithReuse(false))).To(BeFalse())
	})

	It("checks options against a target", func() {
		Expect(realpyx.CheckOptions(targetPool, WithSize(1))).To(Succeed())
		refusal(realpyx.CheckOptions(targetPool, withWorkerID("w1")), "WithWorkerID")
	})

	It("builds a container's zygote command, with the run id given", func() {
		cmd, err := realpyx.NewZygoteCommand(targetContainer, WithModules("m"), realpyx.WithRunID[Option]("run-x"))
		Expect(err).NotTo(HaveOccurred())
		Expect(cmd.RunID).To(Equal("run-x"))
	})

	It("attaches to a zygote with checked options", func() {
		z, err := realpyx.AttachZygote[Zygote](ctx, "/nonexistent.sock", WithPythonPath("x"))
		Expect(z).To(BeNil())
		refusal(err, "WithPythonPath")
	})

	It("makes the options only the harness's own packages give", func() {
		Expect(realpyx.WithWorkerID[Option]("w1").String()).To(Equal("WithWorkerID"))
		Expect(realpyx.WithRunID[Option]("run-x").String()).To(Equal("WithRunID"))
		Expect(realpyx.WithWorkerSource[Option]("/src").String()).To(Equal("WithWorkerSource"))
	})
})
