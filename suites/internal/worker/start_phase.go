package worker

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/realpy"
)

// A start that times out says how far the interpreter got: its own
// start-up (site import), the worker, a handler module, a preload.
var _ = describe("A start that times out", harness.Integration, harness.PythonReal, func() {
	const startTimeout = 3 * time.Second // what the spec waits for: the interpreter never answers

	timedOut := func(err error, phase string) {
		GinkgoHelper()
		Expect(err).To(MatchError(context.DeadlineExceeded))
		Expect(err.Error()).To(ContainSubstring("did not answer the readiness ping before the start's deadline (WithStartTimeout 3s"))
		Expect(err.Error()).To(ContainSubstring(phase))
		Expect(err.Error()).NotTo(ContainSubstring("a module imported at start may hang"), "the old guess")
	}

	It("in a sitecustomize that hangs, says the interpreter never reached the worker and names the file", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		site := filepath.Join(dir, "sitecustomize.py")
		Expect(os.WriteFile(site, []byte("import threading\nthreading.Event().wait()\n"), 0o600)).To(Succeed())
		_, err := realpy.Start(ctx, realpy.WithOutput(GinkgoWriter), realpy.WithPythonPath(dir), realpy.WithStartTimeout(startTimeout))
		timedOut(err, "it was in phase site import: the interpreter started but never reached the worker; "+
			"its own start-up hangs (site: sitecustomize, usercustomize, .pth files); on its PYTHONPATH: "+site)
	}, noHang)

	It("in a wrapper script that never starts the interpreter, says so", func(ctx SpecContext) {
		wrapper := filepath.Join(GinkgoT().TempDir(), "python-wrapper")
		Expect(os.WriteFile(wrapper, []byte("#!/bin/sh\nsleep 3600\nexec python3 \"$@\"\n"), 0o700)).To(Succeed())
		_, err := realpy.Start(ctx, realpy.WithOutput(GinkgoWriter), realpy.WithPython(wrapper), realpy.WithStartTimeout(startTimeout))
		timedOut(err, "it was in phase interpreter not started: the process runs ")
		Expect(err.Error()).To(MatchRegexp(`the process runs /\S*(sh|dash|bash), not the interpreter \(a wrapper that has not started it\?\)`))
	}, noHang)

	It("in a handler module that hangs at import, names the module", func(ctx SpecContext) {
		_, err := realpy.Start(ctx, realpy.WithOutput(GinkgoWriter), realpy.WithPythonPath(testdata()),
			realpy.WithModules("shop", "slow_import"), realpy.WithStartTimeout(startTimeout))
		timedOut(err, `it was in phase handlers import, importing the handler module "slow_import" (WithModules): its top level hangs`)
	}, noHang)

	It("in a zygote's preload that hangs, names the preload", func(ctx SpecContext) {
		_, err := realpy.StartZygote(ctx, realpy.WithOutput(GinkgoWriter), realpy.WithPythonPath(testdata()),
			realpy.WithPreload("json", "slow_import"), realpy.WithModules("shop"), realpy.WithStartTimeout(startTimeout))
		timedOut(err, `it was in phase preload import, importing the preload module "slow_import" (WithPreload): its top level hangs`)
		Expect(err.Error()).To(MatchRegexp(`^realpy: start zygote: `))
	}, noHang)

	It("in a pool's spawned worker, names the module too", func(ctx SpecContext) {
		p, err := realpy.StartPool(ctx, realpy.WithOutput(GinkgoWriter), realpy.WithSize(1), realpy.WithPythonPath(testdata()),
			realpy.WithModules("slow_import"), realpy.WithStartTimeout(startTimeout))
		if p != nil {
			DeferCleanup(p.Close)
		}
		timedOut(err, `importing the handler module "slow_import"`)
	}, noHang)

	It("leaves no phase file behind", func(ctx SpecContext) {
		Expect(startWorker(ctx).Close()).To(Succeed())
		matches, err := filepath.Glob(filepath.Join(os.TempDir(), "pyh-start-*"))
		Expect(err).NotTo(HaveOccurred())
		mine := regexp.MustCompile(`pyh-start-` + strconv.Itoa(os.Getpid()) + `-`)
		for _, m := range matches {
			Expect(mine.MatchString(m)).To(BeFalse(), "left behind: %s", m)
		}
	}, noHang)
})
