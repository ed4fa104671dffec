package unit

import (
	"context"
	"os"
	"path/filepath"
	"syscall"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/internal/pytree"
)

var _ = describe("pytree: the Python files of a directory tree", func() {
	DescribeTable("names editor and backup files as junk, and nothing else",
		func(name, want string) { Expect(pytree.Junk(name)).To(Equal(want)) },
		Entry(nil, ".#mod.py", "editor lock file"), Entry(nil, "#mod.py#", "editor auto-save file"),
		Entry(nil, ".mod.py.swp", "swap file"), Entry(nil, ".mod.py.swo", "swap file"),
		Entry(nil, "mod.py~", "backup file"), Entry(nil, "mod.py.bak", "backup file"), Entry(nil, "mod.py.orig", "backup file"),
		Entry(nil, "mod.py", ""), Entry(nil, ".hidden.py", ""), Entry(nil, "#", ""), Entry(nil, "a.swp", ""),
	)

	It("reads regular files only, and says why it skipped the others", func() {
		dir := GinkgoT().TempDir()
		Expect(os.WriteFile(filepath.Join(dir, "a.py"), []byte("a"), 0o644)).To(Succeed())
		Expect(os.Mkdir(filepath.Join(dir, "pkg"), 0o755)).To(Succeed())
		Expect(os.WriteFile(filepath.Join(dir, "pkg", "b.py"), []byte("b"), 0o644)).To(Succeed())
		Expect(os.Mkdir(filepath.Join(dir, "__pycache__"), 0o755)).To(Succeed())
		Expect(os.WriteFile(filepath.Join(dir, "__pycache__", "a.pyc"), []byte("c"), 0o644)).To(Succeed())
		Expect(syscall.Mkfifo(filepath.Join(dir, "fifo.py"), 0o644)).To(Succeed())
		Expect(os.Symlink(filepath.Join(dir, "nowhere"), filepath.Join(dir, ".#a.py"))).To(Succeed())
		Expect(os.Symlink(filepath.Join(dir, "nowhere"), filepath.Join(dir, "dangling.py"))).To(Succeed())
		Expect(os.Symlink(dir, filepath.Join(dir, "pkg", "loop"))).To(Succeed())
		Expect(os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("n"), 0o644)).To(Succeed())

		var got []string
		isPy := func(rel string) bool { return filepath.Ext(rel) == ".py" }
		skipped, err := pytree.Walk(context.Background(), dir, isPy, nil, func(e pytree.Entry) error {
			got = append(got, e.Rel)
			return nil
		})
		Expect(err).NotTo(HaveOccurred())
		Expect(got).To(Equal([]string{"a.py", "pkg/b.py"}))
		var why []string
		for _, s := range skipped {
			rel, err := filepath.Rel(dir, s.Path)
			Expect(err).NotTo(HaveOccurred())
			why = append(why, rel+": "+s.Why)
		}
		Expect(why).To(Equal([]string{".#a.py: editor lock file", "dangling.py: dangling link", "fifo.py: not a regular file (fifo)", "pkg/loop: link loop"}))
	})

	It("ends with its context", func() {
		dir := GinkgoT().TempDir()
		Expect(os.WriteFile(filepath.Join(dir, "a.py"), nil, 0o644)).To(Succeed())
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		read := 0
		_, err := pytree.Walk(ctx, dir, nil, nil, func(pytree.Entry) error { read++; return nil })
		Expect(err).To(MatchError(context.Canceled))
		Expect(read).To(BeZero(), "a file read after the context ended")
	})

	It("finds nothing in a missing directory, without an error", func() {
		skipped, err := pytree.Walk(context.Background(), filepath.Join(GinkgoT().TempDir(), "none"), nil, nil, func(pytree.Entry) error { return nil })
		Expect(err).NotTo(HaveOccurred())
		Expect(skipped).To(BeEmpty())
	})
})
