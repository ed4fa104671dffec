package pool

import (
	"context"
	"os"
	"strconv"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/internal/realpyx"
	"github.com/pyharness/pyharness/realpy"
)

// The zygote's secret proves a connection may fork workers: a handler, or
// anyone who can read a forked worker's /proc/<pid>/environ, must not find
// it there (os.environ.pop leaves the block the process started with, which
// /proc shows and every fork inherits).
var _ = describe("The zygote's secret", harness.Integration, harness.PythonReal, func() {
	secretOf := func(addr string) string {
		GinkgoHelper()
		_, secret, ok := strings.Cut(addr, "#")
		Expect(ok).To(BeTrue(), "address %q carries no secret", addr)
		Expect(secret).NotTo(BeEmpty())
		return secret
	}

	// notIn asserts that neither /proc/<pid>/environ nor the worker's own
	// os.environ holds the secret (or the variable that carried it).
	notIn := func(ctx context.Context, w *realpy.Worker, secret string) {
		GinkgoHelper()
		environ, err := os.ReadFile("/proc/" + strconv.Itoa(w.HostPid()) + "/environ")
		Expect(err).NotTo(HaveOccurred())
		entries := strings.Split(string(environ), "\x00")
		Expect(entries).To(ContainElement(HavePrefix(realpy.EnvWorkerID+"=")), "the environ read is the worker's")
		Expect(entries).NotTo(ContainElement(Or(ContainSubstring(secret), HavePrefix(realpyx.ZygoteSecretEnv+"="))),
			"worker %s (pid %d): /proc/%d/environ shows the zygote's secret", w.ID(), w.HostPid(), w.HostPid())
		var seen map[string]string
		Expect(w.Call(ctx, "environ", nil, &seen)).To(Succeed())
		Expect(seen).NotTo(HaveKey(realpyx.ZygoteSecretEnv))
	}

	It("is absent from /proc/<pid>/environ of every worker a ZygoteFork pool forks", func(ctx SpecContext) {
		p := startPool(ctx, realpy.WithSize(2), realpy.WithStrategy(realpy.ZygoteFork), realpy.WithModules("environ_handlers"))
		secret := secretOf(p.Zygote().Addr())
		workers := p.Workers()
		Expect(workers).To(HaveLen(2))
		for _, w := range workers {
			notIn(ctx, w, secret)
		}
		fresh, err := p.Fresh(ctx)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(fresh.Close)
		notIn(ctx, fresh, secret)

		By("and from the zygote's own /proc/<pid>/environ")
		environ, err := os.ReadFile("/proc/" + strconv.Itoa(p.Zygote().HostPid()) + "/environ")
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.Split(string(environ), "\x00")).NotTo(ContainElement(ContainSubstring(secret)))
	}, noHang)

	It("is absent from /proc/<pid>/environ of a worker forked from a warm host", func(ctx SpecContext) {
		GinkgoT().Setenv("PYHARNESS_CACHE_DIR", GinkgoT().TempDir()) // a host of this spec's own
		h, err := realpy.StartHost(ctx, realpy.WithPythonPath(testdata()), realpy.WithModules("environ_handlers"))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(h.Stop)
		secret := secretOf(h.Addr())
		p, err := realpy.StartPool(ctx, realpy.WithOutput(GinkgoWriter), realpy.WithSize(1), realpyx.WithZygoteAddr[realpy.Option](h.Addr()))
		DeferCleanup(p.Close)
		Expect(err).NotTo(HaveOccurred())
		Expect(p.Workers()).To(HaveLen(1))
		notIn(ctx, p.Workers()[0], secret)
	}, noHang)
})
