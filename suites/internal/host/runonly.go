package host

import (
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/isolation/leak"
	"github.com/pyharness/pyharness/realpy"
)

var _ = describe("A host of one run only (WithReuse(false))", harness.Integration, harness.PythonReal, func() {
	It("never meets the warm host of a reuse run: it neither attaches to, stops nor replaces it", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		write(filepath.Join(dir, "greeter.py"), "def greet(args):\n    return 'hi'\n")
		opts := []realpy.Option{realpy.WithPythonPath(dir), realpy.WithModules("greeter")}

		warm, err := realpy.StartHost(ctx, opts...)
		Expect(err).NotTo(HaveOccurred())
		Expect(warm.Outcome).To(Equal(realpy.HostStarted))

		run, err := realpy.StartHost(ctx, append(opts, realpy.WithReuse(false))...)
		Expect(err).NotTo(HaveOccurred())
		Expect(run.Outcome).To(Equal(realpy.HostStarted), "not the warm host")
		Expect(run.Pid()).NotTo(Equal(warm.Pid()))
		Expect(run.Dir()).NotTo(Equal(warm.Dir()))
		Expect(run.Stop()).To(Succeed())

		Expect(leak.ProcessAlive(warm.Pid())).To(BeTrue(), "the warm host is untouched")
		again, err := realpy.StartHost(ctx, opts...)
		Expect(err).NotTo(HaveOccurred())
		Expect(again.Outcome).To(Equal(realpy.HostReused))
		Expect(again.Pid()).To(Equal(warm.Pid()))
	}, noHang)
})
