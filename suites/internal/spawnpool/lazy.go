package spawnpool

import (
	"fmt"
	"math/rand/v2"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/harness"
)

var _ = describe("A shared pool with Spawn, lazy", harness.Integration, harness.PythonReal, func() {
	It("starts one worker in each process, and another only when calls queue, up to its size", func(ctx SpecContext) {
		p := python.Pool()
		Expect(p.Workers()).To(HaveLen(1), "one worker up front: one spec at a time needs no second (WithSize(2))")
		Expect(p.Call(ctx, "whoami", nil, nil)).To(Succeed())
		Expect(p.Workers()).To(HaveLen(1))

		marker := fmt.Sprintf("lazy-busy-%d", rand.Int())
		first := p.Workers()[0]
		done := make(chan error, 2)
		go func() { done <- p.Call(ctx, "sleep", map[string]any{"seconds": 1, "announce": marker}, nil) }()
		Eventually(first.Stdout().String).Should(ContainSubstring(marker), "the first call runs")
		go func() { done <- p.Call(ctx, "whoami", nil, nil) }() // finds none free: the pool starts a second
		Eventually(done).Should(Receive(BeNil()))
		Eventually(done).Should(Receive(BeNil()))
		Eventually(p.Workers).Should(HaveLen(2))
		Expect(p.Stats().Starting).To(BeZero(), "never beyond its size")
	}, SpecTimeout(time.Minute))
})
