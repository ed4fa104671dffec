package container

import (
	"os"
	"path/filepath"
	"syscall"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/realpy"
	"github.com/pyharness/pyharness/realpy/container"
)

var _ = describe("The remote copy of the Python path (RemoteFS)", harness.Integration, harness.PythonContainer, func() {
	It("copies the regular files, and reports every entry it left out: a FIFO, a dangling lock, an unreadable file, swap and backup files", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		Expect(os.WriteFile(filepath.Join(dir, "greeter.py"), []byte("import os\n\ndef greet(args):\n    return 'hello ' + args\n\n"+
			"def words(args):\n    with open(os.path.join(os.path.dirname(__file__), 'data', 'words.txt')) as f:\n        return f.read()\n"), 0o644)).To(Succeed())
		Expect(os.Mkdir(filepath.Join(dir, "data"), 0o755)).To(Succeed())
		Expect(os.WriteFile(filepath.Join(dir, "data", "words.txt"), []byte("kept"), 0o644)).To(Succeed())
		Expect(syscall.Mkfifo(filepath.Join(dir, "x.py"), 0o644)).To(Succeed())
		Expect(os.Symlink(filepath.Join(dir, "nobody@host.1234"), filepath.Join(dir, ".#greeter.py"))).To(Succeed())
		Expect(os.Symlink(filepath.Join(dir, "gone"), filepath.Join(dir, "dangling.py"))).To(Succeed())
		Expect(os.Symlink("/proc/self/mem", filepath.Join(dir, "unreadable.py"))).To(Succeed()) // EIO on read, even for root
		Expect(os.WriteFile(filepath.Join(dir, ".greeter.py.swp"), []byte("swap"), 0o644)).To(Succeed())
		Expect(os.WriteFile(filepath.Join(dir, "greeter.py~"), []byte("backup"), 0o644)).To(Succeed())

		c := run(ctx, container.WithEngineFS(container.RemoteFS),
			container.WithOptions(realpy.WithPythonPath(dir), realpy.WithModules("greeter")))
		Expect(c.Skipped).To(ConsistOf(
			filepath.Join(dir, "x.py")+" (not a regular file (fifo))",
			filepath.Join(dir, ".#greeter.py")+" (editor lock file)",
			filepath.Join(dir, "dangling.py")+" (dangling link)",
			filepath.Join(dir, "unreadable.py")+" (unreadable: input/output error)",
			filepath.Join(dir, ".greeter.py.swp")+" (swap file)",
			filepath.Join(dir, "greeter.py~")+" (backup file)",
		))

		p, err := c.StartPool(ctx, realpy.WithSize(1))
		DeferCleanup(p.Close)
		Expect(err).NotTo(HaveOccurred())
		var got string
		Expect(p.Call(ctx, "greet", "remote", &got)).To(Succeed())
		Expect(got).To(Equal("hello remote"))
		Expect(p.Call(ctx, "words", nil, &got)).To(Succeed())
		Expect(got).To(Equal("kept"), "a data file in a subdirectory was copied")
	}, timeout)
})
