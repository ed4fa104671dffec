package isolation

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/pyharness/pyharness"
	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/isolation"
	"github.com/pyharness/pyharness/realpy"
)

// heal kills the pool's first worker, waits for its replacement and for
// the pool to be back to size, and calls the pool again: a correct spec of
// supervision.
func heal(ctx SpecContext, mode *isolation.SupervisionTestingMode, p *realpy.Pool) {
	GinkgoHelper()
	old := mode.KillWorker(p.Workers()[0])
	_, err := mode.WaitForRestart(ctx, old)
	Expect(err).NotTo(HaveOccurred())
	Expect(mode.BackToSize(ctx)).To(Succeed())
	for range 2 * p.Size() { // a call on each worker, the replacement among them
		Expect(p.Call(ctx, "ping", nil, nil)).To(Succeed())
	}
}

// fdSection returns the lines of the "file descriptors left open" section
// of a contamination report in out.
func fdSection(out string) []string {
	_, rest, ok := strings.Cut(out, "file descriptors left open:\n")
	if !ok {
		return nil
	}
	var lines []string
	for _, l := range strings.Split(rest, "\n") {
		l = strings.TrimSpace(l)
		if !strings.HasPrefix(l, "+ fd ") {
			break
		}
		lines = append(lines, l)
	}
	return lines
}

// Offending specs of the contamination checks, registered only in a nested run.
var _ = func() bool {
	switch nested {
	case "contamination-fd-while-healing":
		// A spec of supervision that also leaves a file open: the report
		// names that file, and nothing of the replacement worker.
		describe("offender", Ordered, harness.Integration, func() {
			pool := isolation.PoolTesting(append(workerOpts(), realpy.WithSize(2), realpy.WithStrategy(realpy.Spawn))...)
			isolation.ContaminationDetection(nil)
			mode := isolation.SupervisionTesting(pool.Pool)
			It("heals the pool and leaves a file open", func(ctx SpecContext) {
				heal(ctx, mode, pool.Pool())
				path := os.Getenv(offenderEnv) + ".open"
				Expect(os.WriteFile(path, []byte("kept open"), 0o600)).To(Succeed())
				var err error
				leakedFile, err = os.Open(path) // kept reachable: a finalizer would close it
				Expect(err).NotTo(HaveOccurred())
				record(offence{Kind: "file", ID: fmt.Sprint(leakedFile.Fd()), Site: path}) // ID: its fd; Site: its path
			}, SpecTimeout(time.Minute))
		})
	case "contamination-worker":
		describe("offender", harness.Integration, func() {
			isolation.ContaminationDetection(nil)
			It("starts a worker and never closes it", func(ctx SpecContext) {
				w, err := realpy.Start(ctx, workerOpts()...)
				site := here(-1)
				Expect(err).NotTo(HaveOccurred())
				record(offence{Kind: "spawned worker", ID: w.ID(), Pid: w.Pid(), Site: site})
			})
		})
	}
	return true
}()

var _ = describe("Contamination checks that know what the pool owns", func() {
	if nested != "" {
		return
	}

	// Correct specs of supervision under the contamination check: the
	// replacement worker's sockets, pipes and pidfd, and the goroutines
	// pyharness runs for it, are the pool's, never the spec's.
	healing := func(pool func() *realpy.Pool, watch func() pyharness.Caller) {
		isolation.ContaminationDetection(watch)
		mode := isolation.SupervisionTesting(pool)
		It("passes a spec that kills a worker, waits for its replacement and calls the pool again", func(ctx SpecContext) {
			heal(ctx, mode, pool())
		}, SpecTimeout(time.Minute))
	}

	Describe("on a spawn pool", Ordered, harness.Integration, func() {
		pool := isolation.PoolTesting(append(workerOpts(), realpy.WithSize(2), realpy.WithStrategy(realpy.Spawn))...)
		healing(pool.Pool, nil)
	})

	Describe("on a zygote pool", Ordered, harness.Integration, func() {
		pool := isolation.PoolTesting(append(workerOpts(), realpy.WithSize(2), realpy.WithStrategy(realpy.ZygoteFork))...)
		healing(pool.Pool, nil)
	})

	Describe("on the suite's shared pool, watching the worker that is not killed", harness.Integration, func() {
		healing(func() *realpy.Pool { return python.Pool() }, func() pyharness.Caller { return python.Pool().Workers()[1] })
	})

	It("names the file a healing spec left open, and nothing of the replacement", harness.Integration, func() {
		s, o := runOffender("contamination-fd-while-healing", "PYHARNESS_INTEGRATION=1")
		Expect(s).To(gexec.Exit(1), "the offending spec must fail")
		Expect(fdSection(flat(s))).To(ConsistOf("+ fd "+o.ID+" -> "+o.Site), "the file, alone:\n%s", s.Out.Contents())
		Expect(flat(s)).NotTo(ContainSubstring("processes left running"))
		Expect(flat(s)).NotTo(ContainSubstring("goroutines left running"))
	})

	It("names the worker a spec started and left, with its files", harness.Integration, func() {
		s, o := runOffender("contamination-worker", "PYHARNESS_INTEGRATION=1")
		Expect(s).To(gexec.Exit(1), "the offending spec must fail")
		out := flat(s)
		Expect(out).To(ContainSubstring("processes left running:\n+ spawned worker %s (pid %d), started at %s\n", o.ID, o.Pid, o.Site))
		fds := fdSection(out)
		named := fmt.Sprintf(" (spawned worker %s, pid %d, started at %s)", o.ID, o.Pid, o.Site)
		holder := regexp.QuoteMeta(named)
		Expect(fds).To(ContainElements(
			MatchRegexp(`^\+ fd \d+ -> socket:\[\d+\]`+holder+`$`),
			MatchRegexp(`^\+ fd \d+ -> pipe:\[\d+\]`+holder+`$`),
			MatchRegexp(`^\+ fd \d+ -> anon_inode:\[pidfd\]`+holder+`$`),
		), "its protocol socket, its output pipes, its pidfd:\n%s", s.Out.Contents())
		Expect(fds).To(HaveEach(HaveSuffix(named)), "every new fd is the worker's, named by it")
		Expect(out).NotTo(ContainSubstring("goroutines left running"), "pyharness's goroutines for the worker go with it")
	})
})
