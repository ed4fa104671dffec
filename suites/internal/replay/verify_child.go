package replay

import (
	"os"
	"os/exec"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/pyharness/pyharness/cassette"
	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/realpy"
	"github.com/pyharness/pyharness/suites/internal/suite"
)

// childEnv names the directory of the cassette the child run's spec
// verifies; the spec exists only in that child run.
const childEnv = "PYHARNESS_REPLAY_VERIFY_CHILD"

const childSpec = "a spec in verify mode on a changed handler"

var _ = describe("harness.Record in verify mode", harness.Integration, harness.PythonReal, func() {
	if dir := os.Getenv(childEnv); dir != "" {
		It(childSpec, func(ctx SpecContext) {
			py := harness.Record(startPool(ctx, realpy.WithEnv("REPLAY_VARIANT=2")), cassette.WithDir(dir), cassette.WithMode(cassette.ModeVerify))
			var v map[string]any
			Expect(py.Call(ctx, "classify", map[string]string{"text": "great phone"}, &v)).To(Succeed())
		}, SpecTimeout(time.Minute))
		return
	}

	It("fails the spec when it ends, showing how real Python's answer differs from the cassette", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		rec := cassette.NewRecorder(startPool(ctx))
		Expect(rec.Call(ctx, "classify", map[string]string{"text": "great phone"}, nil)).To(Succeed())
		Expect(rec.Save(dir + "/" + cassette.FileName("harness.Record in verify mode "+childSpec))).To(Succeed())

		cmd := exec.Command(os.Args[0], suite.Run, "-ginkgo.focus="+childSpec, "-ginkgo.no-color")
		cmd.Env = append(os.Environ(), childEnv+"="+dir, suite.Only("replay"), harness.EnvIntegration+"=1")
		run, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(run.Kill)
		Eventually(run).WithTimeout(2 * time.Minute).Should(gexec.Exit(1))
		out := string(run.Out.Contents())
		Expect(out).To(ContainSubstring("1 of 1 recorded calls answered differently on real Python (re-record with PYHARNESS_RECORD=all if the change is meant):\n" +
			"    call 1: classify({\"text\":\"great phone\"})\n" +
			"      result.label: recorded \"positive\", got \"glad\""))
		Expect(out).To(ContainSubstring("verify_child.go"), "the failure names the spec's file")
	}, SpecTimeout(3*time.Minute))
})
