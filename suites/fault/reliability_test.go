package fault_test

import (
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/realpy"
)

var _ = Describe("Reliability", harness.Integration, harness.PythonReal, func() {
	It("merges WithEnv's PYTHONPATH into the worker's own (#6)", func(ctx SpecContext) {
		extra, err := filepath.Abs(filepath.Join("testdata", "extra"))
		Expect(err).NotTo(HaveOccurred())
		w := startWorker(ctx, realpy.WithEnv("PYTHONPATH="+extra), realpy.WithModules("extra_handlers"))
		var path string
		Expect(w.Call(ctx, "python_path", nil, &path)).To(Succeed())
		dirs := filepath.SplitList(path)
		Expect(dirs).To(ContainElement(extra))
		Expect(dirs[0]).To(ContainSubstring("worker-"), "the worker package comes first")
		Expect(w.Call(ctx, "unserializable", nil, nil)).To(HaveOccurred(), "WithPythonPath's modules are served too")
	}, noHang)
})
