package host

import (
	"archive/zip"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/internal/realpyx"
	"github.com/pyharness/pyharness/isolation/leak"
	"github.com/pyharness/pyharness/realpy"
)

// The warm-host matrix (issue 22): whatever changes what the handlers do
// gets the next run a new host; odd files on the Python path never hang or
// fail StartHost; a host is declared dead on evidence only.
var _ = describe("A warm host's key", harness.Integration, harness.PythonReal, func() {
	var dir, inherited string
	BeforeEach(func() {
		dir, inherited = GinkgoT().TempDir(), GinkgoT().TempDir()
		write(filepath.Join(dir, "greeter.py"), "import os\nfrom helper import word\nfrom shared import tone\n\n"+
			"def greet(args):\n    return word() + '/' + tone() + '/' + os.environ.get('GREETING', '-')\n")
		write(filepath.Join(dir, "helper.py"), "def word():\n    return 'v1'\n")
		write(filepath.Join(inherited, "shared.py"), "def tone():\n    return 't1'\n")
		GinkgoT().Setenv("PYTHONPATH", inherited) // inherited: not an option of the run
	})

	run := func(ctx context.Context, opts ...realpy.Option) (*realpy.Host, string) {
		GinkgoHelper()
		opts = append([]realpy.Option{realpy.WithPythonPath(dir), realpy.WithModules("greeter")}, opts...)
		h, err := realpy.StartHost(ctx, opts...)
		Expect(err).NotTo(HaveOccurred())
		p, err := realpy.StartPool(ctx, realpy.WithSize(1), realpyx.WithZygoteAddr[realpy.Option](h.Addr()))
		Expect(err).NotTo(HaveOccurred())
		defer p.Close()
		var got string
		Expect(p.Call(ctx, "greet", nil, &got)).To(Succeed())
		return h, got
	}

	// edit rewrites path with content of the same size and puts its old
	// mtime back (cp -p, rsync -a, tar x and editors' "preserve" do): only
	// the content tells the edit.
	edit := func(path, old, new string) {
		GinkgoHelper()
		st, err := os.Stat(path)
		Expect(err).NotTo(HaveOccurred())
		b, err := os.ReadFile(path)
		Expect(err).NotTo(HaveOccurred())
		Expect(len(new)).To(Equal(len(old)))
		write(path, strings.Replace(string(b), old, new, 1))
		Expect(os.Chtimes(path, st.ModTime(), st.ModTime())).To(Succeed())
	}

	expectReplaced := func(first, second *realpy.Host, reason string) {
		GinkgoHelper()
		Expect(second.Outcome).To(Equal(realpy.HostReplaced))
		Expect(second.Reason).To(ContainSubstring(reason))
		Expect(leak.ProcessAlive(first.Pid())).To(BeFalse(), "the stale host is stopped")
	}

	It("serves the next run the new code after an edit of a handler module", func(ctx SpecContext) {
		first, got := run(ctx)
		Expect(got).To(Equal("v1/t1/-"))
		edit(filepath.Join(dir, "greeter.py"), "'/' + os", "'|' + os")
		second, got := run(ctx)
		Expect(got).To(Equal("v1/t1|-"))
		expectReplaced(first, second, filepath.Join(dir, "greeter.py")+" changed since it started")
	}, noHang)

	It("serves the next run the new code after an edit of a module a handler imports", func(ctx SpecContext) {
		first, _ := run(ctx)
		edit(filepath.Join(dir, "helper.py"), "'v1'", "'v2'")
		second, got := run(ctx)
		Expect(got).To(Equal("v2/t1/-"))
		expectReplaced(first, second, filepath.Join(dir, "helper.py")+" changed since it started")
	}, noHang)

	It("serves the next run the new code after an edit of a module on the inherited PYTHONPATH", func(ctx SpecContext) {
		first, _ := run(ctx)
		edit(filepath.Join(inherited, "shared.py"), "'t1'", "'t2'")
		second, got := run(ctx)
		Expect(got).To(Equal("v1/t2/-"))
		expectReplaced(first, second, filepath.Join(inherited, "shared.py")+" changed since it started")
	}, noHang)

	It("serves the next run the new code when a module on the inherited PYTHONPATH comes to shadow the one imported", func(ctx SpecContext) {
		earlier := GinkgoT().TempDir()
		GinkgoT().Setenv("PYTHONPATH", earlier+string(filepath.ListSeparator)+inherited)
		first, got := run(ctx)
		Expect(got).To(Equal("v1/t1/-"))
		write(filepath.Join(earlier, "shared.py"), "def tone():\n    return 'shadow'\n")
		second, got := run(ctx)
		Expect(got).To(Equal("v1/shadow/-"))
		expectReplaced(first, second, filepath.Join(earlier, "shared.py")+" is new on its Python path")
	}, noHang)

	It("serves the next run the new environment after a change of an inherited variable the handlers read", func(ctx SpecContext) {
		GinkgoT().Setenv("GREETING", "hello")
		first, got := run(ctx)
		Expect(got).To(Equal("v1/t1/hello"))
		GinkgoT().Setenv("GREETING", "bonjour")
		second, got := run(ctx)
		Expect(got).To(Equal("v1/t1/bonjour"))
		expectReplaced(first, second, "the environment that reaches its handlers changed: GREETING")
	}, noHang)

	It("is reused across changes of the volatile variables, and of those named in PYHARNESS_HOST_ENV_IGNORE", func(ctx SpecContext) {
		GinkgoT().Setenv("PYHARNESS_HOST_ENV_IGNORE", "MY_RUN_*, MY_TICKET")
		for i, v := range []string{"a", "b"} {
			GinkgoT().Setenv("TMPDIR", GinkgoT().TempDir())
			GinkgoT().Setenv("PWD", "/nowhere/"+v)
			GinkgoT().Setenv("GOCOVERDIR", "/cover/"+v)
			GinkgoT().Setenv("PYHARNESS_RUN_PID", v)
			GinkgoT().Setenv("MY_RUN_ID", v)
			GinkgoT().Setenv("MY_TICKET", v)
			h, _ := run(ctx)
			Expect(h.Outcome).To(Equal([]realpy.HostOutcome{realpy.HostStarted, realpy.HostReused}[i]), h.Reason)
		}
	}, noHang)
})

var _ = describe("StartHost on a Python path with odd files", harness.Integration, harness.PythonReal, func() {
	It("returns within its context, leaving out a FIFO named x.py, a dangling .#mod.py lock, an unreadable file, swap and backup files, named on one warning line", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		write(filepath.Join(dir, "greeter.py"), "def greet(args):\n    return 'hi'\n")
		Expect(syscall.Mkfifo(filepath.Join(dir, "x.py"), 0o644)).To(Succeed())
		Expect(os.Symlink(filepath.Join(dir, "nobody@host.1234"), filepath.Join(dir, ".#greeter.py"))).To(Succeed())
		Expect(os.Symlink("/proc/self/mem", filepath.Join(dir, "unreadable.py"))).To(Succeed()) // EIO on read, even for root
		write(filepath.Join(dir, ".greeter.py.swp"), "vim swap")
		write(filepath.Join(dir, "greeter.py~"), "backup")

		stderr := captureStderr()
		c, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		h, err := realpy.StartHost(c, realpy.WithPythonPath(dir), realpy.WithModules("greeter"))
		warnings := stderr()
		Expect(err).NotTo(HaveOccurred())
		Expect(h.Skipped).To(ConsistOf(
			filepath.Join(dir, "x.py")+" (not a regular file (fifo))",
			filepath.Join(dir, ".#greeter.py")+" (editor lock file)",
			filepath.Join(dir, "unreadable.py")+" (unreadable: input/output error)",
			filepath.Join(dir, ".greeter.py.swp")+" (swap file)",
			filepath.Join(dir, "greeter.py~")+" (backup file)",
		))
		lines := strings.Split(strings.TrimSpace(warnings), "\n")
		Expect(lines).To(HaveLen(1), warnings)
		Expect(lines[0]).To(HavePrefix("pyharness: warning: StartHost: hashing the Python path left out 5 entries: "))
		for _, s := range h.Skipped {
			Expect(lines[0]).To(ContainSubstring(s))
		}

		p, err := realpy.StartPool(ctx, realpy.WithSize(1), realpyx.WithZygoteAddr[realpy.Option](h.Addr()))
		Expect(err).NotTo(HaveOccurred())
		defer p.Close()
		var got string
		Expect(p.Call(ctx, "greet", nil, &got)).To(Succeed())
		Expect(got).To(Equal("hi"))
	}, noHang)

	It("ends with the context's error, naming the directory, when hashing outlives the context", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		write(filepath.Join(dir, "greeter.py"), "def greet(args):\n    return 'hi'\n")
		c, cancel := context.WithCancel(ctx)
		cancel()
		_, err := realpy.StartHost(c, realpy.WithPythonPath(dir), realpy.WithModules("greeter"))
		Expect(err).To(MatchError(context.Canceled))
	}, noHang)
})

var _ = describe("A warm host under a burst of attaches", harness.Integration, harness.PythonReal, func() {
	It("takes 300 connections at once, serves 300 concurrent attaches with silent connections open, and is kept by StartHost meanwhile", func(ctx SpecContext) {
		// Stopped, the host accepts nothing: every connect waits in its
		// listen backlog, which must hold a burst beyond the old 128.
		h, opts, sock := stoppedGreeterHost(ctx)
		var silent []net.Conn
		DeferCleanup(func() {
			for _, c := range silent {
				c.Close()
			}
		})
		for i := range 300 {
			c, err := net.Dial("unix", sock)
			Expect(err).NotTo(HaveOccurred(), "connect %d of 300 to the stopped host", i+1)
			silent = append(silent, c)
		}
		Expect(syscall.Kill(h.Pid(), syscall.SIGCONT)).To(Succeed())

		// With the 300 silent connections open: 300 attaches and a
		// StartHost at once.
		var wg sync.WaitGroup
		errs := make([]error, 300)
		for i := range errs {
			wg.Go(func() {
				z, err := realpyx.AttachZygote[realpy.Zygote, realpy.Option](ctx, h.Addr())
				if err == nil {
					var info map[string]any
					err = z.Info(ctx, &info)
					z.Close()
				}
				errs[i] = err
			})
		}
		again, err := realpy.StartHost(ctx, opts...)
		wg.Wait()
		Expect(err).NotTo(HaveOccurred())
		Expect(again.Outcome).To(Equal(realpy.HostReused), again.Reason)
		Expect(again.Pid()).To(Equal(h.Pid()))
		Expect(errs).To(HaveEach(Succeed()))
		Expect(leak.ProcessAlive(h.Pid())).To(BeTrue())
	}, noHang)
})

// captureStderr sends os.Stderr to a pipe until the returned function is
// called, which restores it and returns what was written.
func captureStderr() func() string {
	GinkgoHelper()
	r, w, err := os.Pipe()
	Expect(err).NotTo(HaveOccurred())
	old := os.Stderr
	os.Stderr = w
	done := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(r)
		r.Close()
		done <- string(b)
	}()
	var once sync.Once
	var out string
	get := func() string {
		once.Do(func() {
			os.Stderr = old
			w.Close()
			out = <-done
		})
		return out
	}
	DeferCleanup(get)
	return get
}

var _ = describe("A warm host with a zip archive on its Python path", harness.Integration, harness.PythonReal, func() {
	It("serves the next run the new code after the archive changes", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		archive := filepath.Join(GinkgoT().TempDir(), "lib.zip")
		zipModule := func(word string) {
			GinkgoHelper()
			f, err := os.Create(archive)
			Expect(err).NotTo(HaveOccurred())
			zw := zip.NewWriter(f)
			w, err := zw.CreateHeader(&zip.FileHeader{Name: "zipped.py", Method: zip.Store, Modified: time.Unix(1700000000, 0)})
			Expect(err).NotTo(HaveOccurred())
			_, err = w.Write([]byte("def word():\n    return '" + word + "'\n"))
			Expect(err).NotTo(HaveOccurred())
			Expect(zw.Close()).To(Succeed())
			Expect(f.Close()).To(Succeed())
			Expect(os.Chtimes(archive, time.Unix(1700000000, 0), time.Unix(1700000000, 0))).To(Succeed()) // the same size and mtime: only the content tells
		}
		zipModule("z1")
		write(filepath.Join(dir, "greeter.py"), "from zipped import word\n\ndef greet(args):\n    return word()\n")
		GinkgoT().Setenv("PYTHONPATH", archive)
		run := func() (*realpy.Host, string) {
			GinkgoHelper()
			h, err := realpy.StartHost(ctx, realpy.WithPythonPath(dir), realpy.WithModules("greeter"))
			Expect(err).NotTo(HaveOccurred())
			p, err := realpy.StartPool(ctx, realpy.WithSize(1), realpyx.WithZygoteAddr[realpy.Option](h.Addr()))
			Expect(err).NotTo(HaveOccurred())
			defer p.Close()
			var got string
			Expect(p.Call(ctx, "greet", nil, &got)).To(Succeed())
			return h, got
		}
		first, got := run()
		Expect(got).To(Equal("z1"))
		zipModule("z2")
		second, got := run()
		Expect(got).To(Equal("z2"))
		Expect(second.Outcome).To(Equal(realpy.HostReplaced))
		Expect(second.Reason).To(Equal(archive + " changed since it started"))
		Expect(leak.ProcessAlive(first.Pid())).To(BeFalse())
	}, noHang)
})
