// The 20-spec scikit-learn suite of the lazy-pool benchmark (see ../run.sh):
// BENCH_MODE says how its specs reach Python.
package suite_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/realpy"
)

func TestSuite(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(time.Minute)
	RunSpecs(t, "lazybench")
}

var _ = harness.SkipUnselectedIntegration()

var handlers, _ = filepath.Abs("../handlers")

var common = []realpy.Option{realpy.WithPython("/usr/bin/python3"), realpy.WithPythonPath(handlers), realpy.WithModules("skl")}

var mode = os.Getenv("BENCH_MODE")

// caller is what a spec calls: the harness's shared pool, or this process's own pool.
type caller interface{ Pool() *realpy.Pool }

type own struct{ p *realpy.Pool }

func (o *own) Pool() *realpy.Pool { return o.p }

var shared = func() caller {
	opts := append([]realpy.Option{realpy.WithSize(4)}, common...)
	switch mode {
	case "naive":
		return nil
	case "spawn-eager", "spawn-lazy": // each Ginkgo process its own pool, as the harness does for Spawn
		if mode == "spawn-lazy" {
			opts = append(opts, realpy.WithLazy())
		}
		o := &own{}
		BeforeSuite(func(ctx SpecContext) {
			p, err := realpy.StartPool(ctx, opts...)
			DeferCleanup(p.Close)
			Expect(err).NotTo(HaveOccurred())
			o.p = p
		})
		AfterSuite(func() { fmt.Printf("STATS %+v\n", o.p.Stats()) })
		return o
	case "harness-spawn": // harness.NewSharedPool with Spawn: lazy by default now
		opts = append(opts, realpy.WithStrategy(realpy.Spawn))
	case "zygote":
	default:
		panic("BENCH_MODE: naive, spawn-eager, spawn-lazy, harness-spawn or zygote")
	}
	return harness.NewSharedPool(opts...)
}()

var _ = Describe("a sklearn service", harness.Integration, func() {
	for i := range 20 {
		It(fmt.Sprintf("fits model %d", i), func(ctx SpecContext) {
			var score float64
			if shared == nil {
				w, err := realpy.Start(ctx, common...)
				Expect(err).NotTo(HaveOccurred())
				defer w.Close()
				Expect(w.Call(ctx, "fit", i, &score)).To(Succeed())
			} else {
				Expect(shared.Pool().Call(ctx, "fit", i, &score)).To(Succeed())
			}
			Expect(score).To(BeNumerically(">", 0.8))
		}, SpecTimeout(2*time.Minute))
	}
})
