package unit

import (
	"os"
	"os/exec"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"

	"github.com/pyharness/pyharness/internal/suitelife"
	"github.com/pyharness/pyharness/suites/internal/suite"
)

// lifeEnv registers the stages and the spec of the nested run below.
const lifeEnv = "PYHARNESS_TEST_UNIT_SUITELIFE"

var (
	lifeMu    sync.Mutex
	lifeSteps []string
)

func lifeStep(s string) func(SpecContext) {
	return func(SpecContext) {
		lifeMu.Lock()
		lifeSteps = append(lifeSteps, s)
		lifeMu.Unlock()
	}
}

func lifeFirst(s string) func(SpecContext) []byte {
	return func(ctx SpecContext) []byte { lifeStep(s)(ctx); return nil }
}

// Two stages with a Start and an outer one, added in the nested run in
// this order: an outer stage comes first whenever it is added.
var _ = os.Getenv(lifeEnv) == "1" &&
	suite.Stage("unit", suitelife.Stage{Start: lifeStep("b start"), First: lifeFirst("b first")}) &&
	suite.Stage("unit", suitelife.Stage{Outer: true, Start: lifeStep("outer start"), First: lifeFirst("outer first")}) &&
	suite.Stage("unit", suitelife.Stage{Start: lifeStep("c start"), First: lifeFirst("c first")}) &&
	describe("suitelife (nested run)", func() {
		It("ran every stage's Start after the outer stages' First and before the other stages' First", func() {
			Expect(lifeSteps).To(Equal([]string{"outer first", "outer start", "b start", "c start", "b first", "c first"}), "the outer stage set up first; every Start (in the stages' order) before any other First")
		})
	})

var _ = describe("suitelife: the suite's stages", func() {
	It("starts every stage's background work (Start) once the outer stages are set up, before any other stage's setup (in a nested run)", func() {
		cmd := exec.Command(os.Args[0], suite.Run, "-ginkgo.no-color", "-ginkgo.focus=suitelife \\(nested run\\)")
		cmd.Env = append(os.Environ(), suite.Only("unit"), lifeEnv+"=1")
		session, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		Eventually(session).WithTimeout(2 * time.Minute).Should(gexec.Exit(0))
		Expect(session.Out).To(gbytes.Say(`Ran 1 of \d+ Specs`))
	})
})
