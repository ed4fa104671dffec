package gotest

import (
	"regexp"
	"strconv"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/pyharness/pyharness/gotest"
	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/internal/realpyx"
	"github.com/pyharness/pyharness/isolation/leak"
	"github.com/pyharness/pyharness/realpy"
)

var _ = describe("warm hosts only for those who asked", harness.Integration, harness.PythonReal, func() {
	// hostOf runs TestPool of the fixture binary and returns the pool host
	// its summary line names, and how the binary got it.
	hostOf := func(env ...string) (int, string) {
		GinkgoHelper()
		s := runFixture("TestPool", append([]string{gotest.EnvIntegration + "=1"}, env...)...)
		Expect(s).To(gexec.Exit(0))
		m := regexp.MustCompile(`pyharness: pool host (\d+) \((\w+)`).FindStringSubmatch(string(s.Out.Contents()))
		Expect(m).NotTo(BeNil(), "the summary line of %s", s.Out.Contents())
		pid, _ := strconv.Atoi(m[1])
		return pid, m[2]
	}

	It("leaves the warm host of a reuse run to the next reuse run: a run without reuse neither attaches to it nor stops it", func(ctx SpecContext) {
		cache := "PYHARNESS_CACHE_DIR=" + GinkgoT().TempDir()
		GinkgoT().Setenv("PYHARNESS_CACHE_DIR", cache[len("PYHARNESS_CACHE_DIR="):])
		DeferCleanup(func() {
			_, err := realpyx.StopHosts("")
			Expect(err).NotTo(HaveOccurred())
		})

		warm, outcome := hostOf(cache, realpy.EnvReuse+"=1")
		Expect(outcome).To(Equal("started"))
		Expect(leak.ProcessAlive(warm)).To(BeTrue(), "reuse: the host stays warm after the run")

		held, outcome := hostOf(cache, realpy.EnvReuse+"=")
		Expect(held).NotTo(Equal(warm), "the run without reuse started a host of its own")
		Expect(outcome).To(Equal("started"))
		Eventually(func() bool { return leak.ProcessAlive(held) }).Should(BeFalse(), "its host ends with it") // not our child: polling is the only way
		Expect(leak.ProcessAlive(warm)).To(BeTrue(), "the warm host outlived the run without reuse")

		again, outcome := hostOf(cache, realpy.EnvReuse+"=1")
		Expect(again).To(Equal(warm))
		Expect(outcome).To(Equal("reused"), "the next reuse run starts warm")
	})
})
