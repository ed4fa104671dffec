package host

import (
	"context"
	"fmt"
	"os"
	"os/exec"
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

var noHang = SpecTimeout(time.Minute)

var _ = describe("A warm host", harness.Integration, harness.PythonReal, func() {
	var dir string
	BeforeEach(func() {
		dir = GinkgoT().TempDir()
		write(filepath.Join(dir, "greeter.py"), "from helper import word\n\ndef greet(args):\n    return word()\n")
		write(filepath.Join(dir, "helper.py"), "def word():\n    return 'v1'\n")
	})

	// run is one test run: a host, a pool forked from it, one call.
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
		Expect(h.Close()).To(Succeed())
		return h, got
	}

	It("is reused by the next run, which imports nothing", func(ctx SpecContext) {
		first, got := run(ctx)
		Expect(first.Outcome).To(Equal(realpy.HostStarted))
		Expect(got).To(Equal("v1"))
		second, got := run(ctx)
		Expect(second.Outcome).To(Equal(realpy.HostReused))
		Expect(second.Pid()).To(Equal(first.Pid()))
		Expect(got).To(Equal("v1"))
	}, noHang)

	It("is replaced when a handler module changes", func(ctx SpecContext) {
		first, _ := run(ctx)
		write(filepath.Join(dir, "greeter.py"), "def greet(args):\n    return 'edited'\n")
		second, got := run(ctx)
		Expect(second.Outcome).To(Equal(realpy.HostReplaced))
		Expect(got).To(Equal("edited"))
		Expect(leak.ProcessAlive(first.Pid())).To(BeFalse(), "the stale host is stopped")
	}, noHang)

	It("is replaced when a module the handler imports changes, wherever it lives", func(ctx SpecContext) {
		other := GinkgoT().TempDir() // on PYTHONPATH through WithEnv: not hashed, checked by size and mtime
		Expect(os.Rename(filepath.Join(dir, "helper.py"), filepath.Join(other, "helper.py"))).To(Succeed())
		first, got := run(ctx, realpy.WithEnv("PYTHONPATH="+other))
		Expect(got).To(Equal("v1"))
		write(filepath.Join(other, "helper.py"), "def word():\n    return 'v2, longer'\n")
		second, got := run(ctx, realpy.WithEnv("PYTHONPATH="+other))
		Expect(second.Outcome).To(Equal(realpy.HostReplaced))
		Expect(second.Reason).To(ContainSubstring("helper.py changed"))
		Expect(got).To(Equal("v2, longer"))
		Expect(leak.ProcessAlive(first.Pid())).To(BeFalse())
	}, noHang)

	It("is another host when the preloads or the environment differ", func(ctx SpecContext) {
		plain, _ := run(ctx)
		preloaded, _ := run(ctx, realpy.WithPreload("json"))
		withEnv, _ := run(ctx, realpy.WithEnv("MODE=fast"))
		Expect(preloaded.Dir()).NotTo(Equal(plain.Dir()))
		Expect(withEnv.Dir()).NotTo(Equal(plain.Dir()))
		Expect(preloaded.Outcome).To(Equal(realpy.HostStarted))
		Expect(withEnv.Outcome).To(Equal(realpy.HostStarted))
	}, noHang)

	It("replaces a hung host on attach", func(ctx SpecContext) {
		first, _ := run(ctx)
		Expect(syscall.Kill(first.Pid(), syscall.SIGSTOP)).To(Succeed())
		second, got := run(ctx)
		Expect(second.Outcome).To(Equal(realpy.HostReplaced))
		Expect(second.Reason).To(ContainSubstring("did not answer"))
		Expect(got).To(Equal("v1"))
		Expect(leak.ProcessAlive(first.Pid())).To(BeFalse())
	}, noHang)

	It("is one host for runs that start at the same moment", func(ctx SpecContext) {
		pids := make([]int, 4)
		var wg sync.WaitGroup
		for i := range pids {
			wg.Go(func() {
				defer GinkgoRecover()
				h, err := realpy.StartHost(ctx, realpy.WithPythonPath(dir), realpy.WithModules("greeter"))
				Expect(err).NotTo(HaveOccurred())
				pids[i] = h.Pid()
			})
		}
		wg.Wait()
		Expect(pids).To(HaveEach(pids[0]))
	}, noHang)

	It("ends by itself after its idle timeout", func(ctx SpecContext) {
		h, _ := run(ctx, realpy.WithHostIdle(300*time.Millisecond))
		Eventually(func() bool { return leak.ProcessAlive(h.Pid()) }).WithTimeout(10 * time.Second).Should(BeFalse())
		again, _ := run(ctx, realpy.WithHostIdle(300*time.Millisecond))
		Expect(again.Outcome).To(Equal(realpy.HostReplaced))
		Expect(again.Reason).To(ContainSubstring("not running"))
	}, noHang)

	It("kills the workers of a run that died", func(ctx SpecContext) {
		h, _ := run(ctx)
		path, secret, _ := strings.Cut(strings.TrimPrefix(h.Addr(), "unix:"), "#")
		python, err := realpyx.FindPython(ctx, "")
		Expect(err).NotTo(HaveOccurred())
		// A run, in a process of its own, that asks for a worker and dies.
		client := exec.Command(python, "-c", `
import json, os, socket, struct, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
body = json.dumps({"id": 1, "method": "fork", "args": {"worker_id": "doomed", "owner_pid": os.getpid(), "secret": sys.argv[2]}}).encode()
s.sendall(struct.pack(">I", len(body)) + body)
n = struct.unpack(">I", s.recv(4))[0]; reply = json.loads(s.recv(n))
print(reply["result"]["pid"], flush=True); time.sleep(3600)`, path, secret)
		out, err := client.StdoutPipe()
		Expect(err).NotTo(HaveOccurred())
		Expect(client.Start()).To(Succeed())
		var worker int
		_, err = fmt.Fscan(out, &worker)
		Expect(err).NotTo(HaveOccurred())
		Expect(leak.ProcessAlive(worker)).To(BeTrue())
		Expect(client.Process.Kill()).To(Succeed())
		_ = client.Wait()
		Eventually(func() bool { return leak.ProcessAlive(worker) }).Should(BeFalse(), "the host killed the fork of the dead run")
		Expect(leak.ProcessAlive(h.Pid())).To(BeTrue(), "the host lives on")
	}, noHang)

	It("is listed, and stopped by StopHosts", func(ctx SpecContext) {
		h, _ := run(ctx)
		hosts, err := realpyx.Hosts(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(hosts).To(ContainElement(And(HaveField("Pid", h.Pid()), HaveField("Alive", true), HaveField("Modules", []string{"greeter"}))))
		stopped, err := realpyx.StopHosts("")
		Expect(err).NotTo(HaveOccurred())
		Expect(stopped).To(ContainElement(h.Dir()))
		Expect(leak.ProcessAlive(h.Pid())).To(BeFalse())
	}, noHang)
})
