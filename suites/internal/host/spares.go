package host

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/internal/realpyx"
	"github.com/pyharness/pyharness/isolation/leak"
	"github.com/pyharness/pyharness/realpy"
)

// greeter prints the worker id it sees, and returns v1.
const greeter = "import os, sys\n\ndef greet(args):\n    print('hello from', os.environ['PYHARNESS_WORKER_ID'])\n" +
	"    sys.stdout.flush()\n    return 'v1'\n"

// spareInfo is what a host's info says of its spares.
type spareInfo struct {
	Spares     []int `json:"spares"`
	Children   []int `json:"children"`
	Target     int   `json:"spare_target"`
	FromSpares int   `json:"from_spares"`
	Forked     int   `json:"forked"`
}

func hostInfo(ctx context.Context, h *realpy.Host) spareInfo {
	GinkgoHelper()
	z, err := realpyx.AttachZygote[realpy.Zygote, realpy.Option](ctx, h.Addr())
	Expect(err).NotTo(HaveOccurred())
	defer z.Close()
	var raw map[string]any
	Expect(z.Info(ctx, &raw)).To(Succeed())
	b, _ := json.Marshal(raw)
	var info spareInfo
	Expect(json.Unmarshal(b, &info)).To(Succeed())
	return info
}

// sparesReady waits until the host has forked n spares: it does so on its
// own once quiet, so polling its info is the only way to see it (each poll
// is a connection, which keeps it busy for a moment: hence the interval).
func sparesReady(ctx context.Context, h *realpy.Host, n int) []int {
	GinkgoHelper()
	var info spareInfo
	Eventually(func() []int {
		info = hostInfo(ctx, h)
		return info.Spares
	}).WithContext(ctx).WithPolling(200 * time.Millisecond).Should(HaveLen(n))
	return info.Spares
}

var _ = describe("A warm host's spare workers", harness.Integration, harness.PythonReal, func() {
	var dir string
	var opts []realpy.Option
	BeforeEach(func() {
		dir = GinkgoT().TempDir()
		write(filepath.Join(dir, "greeter.py"), greeter)
		opts = []realpy.Option{realpy.WithPythonPath(dir), realpy.WithModules("greeter")}
	})

	// run is one test run: a host, a pool of two forked from it, a call on
	// each worker; it returns the host and the workers' pids.
	run := func(ctx context.Context) (*realpy.Host, []int, []string) {
		GinkgoHelper()
		before, err := leak.OwnedProcesses() // other suites' shared pools are ours too
		Expect(err).NotTo(HaveOccurred())
		h, err := realpy.StartHost(ctx, opts...)
		Expect(err).NotTo(HaveOccurred())
		p, err := realpy.StartPool(ctx, realpy.WithSize(2), realpyx.WithZygoteAddr[realpy.Option](h.Addr()))
		Expect(err).NotTo(HaveOccurred())
		var pids []int
		var got []string
		for _, w := range p.Workers() {
			var s string
			Expect(w.Call(ctx, "greet", nil, &s)).To(Succeed())
			got = append(got, s)
			pids = append(pids, w.Pid())
			Expect(w.Hello().WorkerID).To(Equal(w.ID()), "the worker answers with the id it was asked for")
			Eventually(w.Stdout().String).Should(Equal("hello from "+w.ID()+"\n"), "its stdout is captured here")
			Expect(leak.OwnedProcesses()).To(ContainElement(HaveField("Pid", w.Pid())), "a leak check counts it as ours while it runs")
		}
		Expect(p.Close()).To(Succeed())
		after, err := leak.OwnedProcesses()
		Expect(err).NotTo(HaveOccurred())
		Expect(leak.NewProcesses(before, after)).To(BeEmpty(), "nothing left once the pool is closed: no spare counts as ours")
		Expect(h.Close()).To(Succeed())
		return h, pids, got
	}

	It("forks, once a run is over, as many spares as the run asked for; the next run's requests take them", func(ctx SpecContext) {
		first, firstPids, _ := run(ctx)
		Expect(first.Outcome).To(Equal(realpy.HostStarted))
		spares := sparesReady(ctx, first, 2) // the first run's two workers
		Expect(firstPids).NotTo(ContainElements(spares))

		second, pids, got := run(ctx)
		Expect(second.Outcome).To(Equal(realpy.HostReused))
		Expect(got).To(Equal([]string{"v1", "v1"}))
		info := hostInfo(ctx, second)
		// StartHost's health check forked one worker, the pool two: two of
		// the three came from the spares, which were all there was.
		Expect(info.FromSpares).To(Equal(2))
		Expect(info.Forked).To(Equal(2 + 3))
		taken := 0
		for _, pid := range pids {
			if slices.Contains(spares, pid) {
				taken++
			}
		}
		Expect(taken).To(BeNumerically(">=", 1), "the pool's workers %v include spares %v", pids, spares)

		// The third run finds three, the second run's three requests, and
		// forks none: its health check and both workers are spares.
		spares = sparesReady(ctx, second, 3)
		third, pids, _ := run(ctx)
		Expect(third.Pid()).To(Equal(first.Pid()))
		info = hostInfo(ctx, third)
		Expect(info.FromSpares).To(Equal(2 + 3))
		Expect(info.Forked).To(Equal(2 + 3 + 3))
		Expect(spares).To(ContainElements(pids))
	}, noHang)

	It("keeps no spare past the host: Stop ends them", func(ctx SpecContext) {
		h, _, _ := run(ctx)
		spares := sparesReady(ctx, h, 2)
		Expect(h.Stop()).To(Succeed())
		for _, pid := range spares {
			Eventually(leak.ProcessAlive).WithArguments(pid).Should(BeFalse(), "spare %d outlives its host", pid)
		}
	}, noHang)

	It("serves no spare forked before a handler module changed", func(ctx SpecContext) {
		first, _, _ := run(ctx)
		spares := sparesReady(ctx, first, 2)
		write(filepath.Join(dir, "greeter.py"), strings.Replace(greeter, "'v1'", "'edited'", 1))
		second, pids, got := run(ctx)
		Expect(second.Outcome).To(Equal(realpy.HostReplaced))
		Expect(got).To(Equal([]string{"edited", "edited"}))
		Expect(pids).NotTo(ContainElements(spares))
		for _, pid := range spares {
			Eventually(leak.ProcessAlive).WithArguments(pid).Should(BeFalse(), "a spare of the stale host outlives it")
		}
	}, noHang)
})
