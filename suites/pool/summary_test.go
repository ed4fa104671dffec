package pool_test

import (
	"os/exec"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"

	"github.com/pyharness/pyharness/harness"
)

var _ = Describe("The shared pool's suite summary", harness.Integration, harness.PythonReal, func() {
	It("counts the workers the specs started with realpy.Start among the interpreters spawned", func() {
		cmd := exec.Command("go", "test", "-v", "./testdata/_summary", "-count=1", "-args", "-ginkgo.no-color")
		cmd.Env = append(cmd.Environ(), harness.EnvIntegration+"=1", "PYHARNESS_CACHE_DIR="+GinkgoT().TempDir())
		s, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		Eventually(s).WithTimeout(3 * time.Minute).Should(gexec.Exit(0))
		Expect(s.Out).To(gbytes.Say(`pyharness: 1 pool host\(s\), 1 process\(es\) attached; interpreters: 2 spawned, 1 forked`),
			"the host, and the spec's own worker; the pool's one worker was forked")
	})
})
