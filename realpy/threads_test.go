package realpy

import (
	"os"
	"runtime"
	"strconv"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("Thread limits (no Python)", func() {
	withArgs := func(args ...string) {
		saved := os.Args
		os.Args = append([]string{"pool.test"}, args...)
		DeferCleanup(func() { os.Args = saved })
	}

	It("counts Ginkgo's parallel processes from the flag `ginkgo -p` passes", func() {
		withArgs("--test.timeout=0", "--ginkgo.parallel.process=2", "--ginkgo.parallel.total=8")
		Expect(parallelProcesses()).To(Equal(8))
		withArgs("-ginkgo.parallel.total", "3")
		Expect(parallelProcesses()).To(Equal(3))
		withArgs("-test.v")
		Expect(parallelProcesses()).To(Equal(1))
	})

	It("shares the cores between the machine's workers, at least 1, and leaves the user's variables alone", func() {
		withArgs("--ginkgo.parallel.total=2")
		for _, v := range threadVars { // this process's own, if any, would be the user's
			if saved, ok := os.LookupEnv(v); ok {
				Expect(os.Unsetenv(v)).To(Succeed())
				DeferCleanup(os.Setenv, v, saved)
			}
		}
		cfg := procConfig{env: []string{"MKL_NUM_THREADS=7"}}
		cfg.fork.workers = 4
		t := cfg.threadLimits()
		Expect(t.Workers).To(Equal(8))
		Expect(t.Cores).To(Equal(runtime.NumCPU()))
		Expect(t.Value).To(Equal(max(1, runtime.NumCPU()/8)))
		Expect(t.Set).To(Equal([]string{"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"}))
		v := strconv.Itoa(t.Value)
		Expect(t.env()).To(ContainElements("OMP_NUM_THREADS="+v, "NUMEXPR_NUM_THREADS="+v))
		Expect(t.env()).NotTo(ContainElement(HavePrefix("MKL_NUM_THREADS=")))
		Expect(parseThreadLimit(t.env()[len(t.env())-1][len(envThreadLimit)+1:])).To(Equal(t), "what a zygote reports back")
		Expect(t.String()).To(Equal("OMP_NUM_THREADS=" + v + " and 3 more (" + strconv.Itoa(runtime.NumCPU()) + " cores / 8 workers)"))

		cfg.fork.machineWorkers = 1 // the harness knows better
		Expect(cfg.threadLimits().Value).To(Equal(runtime.NumCPU()))
		cfg.fork.threadsOff = true
		Expect(cfg.threadLimits()).To(Equal(ThreadLimits{}))
		Expect(cfg.threadLimits().String()).To(Equal("none set"))
	})

	It("refuses an unknown fork-safety policy", func() {
		_, err := newConfig(targetPool, []Option{WithForkSafety("sometimes")})
		refusal(err, "WithForkSafety")
	})
})
