package isolation

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/realpy"
)

// PoolTestingMode gives an Ordered container a private pool.
//
// Sets up: StartPool in BeforeAll. Tears down: closes the pool after the
// container's last spec (DeferCleanup in BeforeAll), so specs of the
// container share it in order and no other container sees it.
type PoolTestingMode struct {
	pool *realpy.Pool
}

// PoolTesting registers the pool-testing mode; call it in an Ordered container.
func PoolTesting(opts ...realpy.Option) *PoolTestingMode {
	m := &PoolTestingMode{}
	BeforeAll(func(ctx SpecContext) {
		p, err := realpy.StartPool(ctx, append([]realpy.Option{realpy.WithOutput(GinkgoWriter)}, opts...)...)
		DeferCleanup(func() {
			workers := p.Workers()
			Expect(p.Close()).To(Succeed())
			for _, w := range workers {
				Expect(w.Exited()).To(BeClosed(), "pool testing: a worker outlived its pool")
			}
		})
		Expect(err).NotTo(HaveOccurred())
		m.pool = p
	}, NodeTimeout(2*time.Minute))
	return m
}

// Pool returns the container's pool.
func (m *PoolTestingMode) Pool() *realpy.Pool { return m.pool }
