package unit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
	"go.uber.org/goleak"

	"github.com/pyharness/pyharness/internal/counts"
	"github.com/pyharness/pyharness/internal/ownership"
	"github.com/pyharness/pyharness/isolation/leak"
	"github.com/pyharness/pyharness/suites/internal/suite"
)

// stateCaller answers `state` with the next of its canned replies.
type stateCaller struct{ replies []string }

func (c *stateCaller) Call(_ context.Context, method string, _, reply any) error {
	if method != "state" {
		return fmt.Errorf("unexpected method %s", method)
	}
	next := c.replies[0]
	c.replies = c.replies[1:]
	return json.Unmarshal([]byte(next), reply)
}

// blockedUntil is a goroutine a spec leaves running until it closes stop.
func blockedUntil(stop chan struct{}) { <-stop }

var _ = describe("leak: what a snapshot's diff and a check report (isolation/leak)", func() {
	// pythonDiff is the Python part of the diff of two snapshots whose
	// worker answered before and after.
	pythonDiff := func(before, after string, opts ...leak.SnapshotOption) *leak.Diff {
		GinkgoHelper()
		w := &stateCaller{replies: []string{before, after}}
		opts = append([]leak.SnapshotOption{leak.WithPython(w)}, opts...)
		b, err := leak.Take(context.Background(), opts...)
		Expect(err).NotTo(HaveOccurred())
		a, err := leak.Take(context.Background(), opts...)
		Expect(err).NotTo(HaveOccurred())
		d := b.Diff(a)
		// Only the Python part is the point (other processes write to /tmp meanwhile).
		d.Goroutines, d.Processes, d.FDs, d.TempFiles, d.Env = nil, nil, nil, nil, nil
		return d
	}

	It("lists the modules the handlers imported, not those the worker or an earlier snapshot did", func() {
		d := pythonDiff(
			`{"modules": ["sys"], "imported": ["json"], "pid": 7, "worker_id": "w1"}`,
			`{"modules": ["sys", "ast", "_ast", "json", "colorsys"], "imported": ["colorsys", "json"], "pid": 7, "worker_id": "w1"}`)
		Expect(d.Modules).To(Equal([]string{"+ colorsys"}), "ast came from the worker, json before the first snapshot")
		Expect(d.String()).To(Equal("Python modules imported by the handlers of worker w1 (pid 7):\n  + colorsys\n" +
			`  (a module imported on purpose: IgnoreModules("colorsys") leaves it out)`))
	})

	It("compares all modules of a worker that does not say what handlers imported", func() {
		d := pythonDiff(`{"modules": ["sys"]}`, `{"modules": ["sys", "colorsys"]}`)
		Expect(d.Modules).To(Equal([]string{"+ colorsys"}))
		Expect(d.Worker).To(Equal("the worker"))
	})

	It("leaves out exactly the modules IgnoreModules names", func() {
		d := pythonDiff(
			`{"modules": [], "imported": [], "pid": 7, "worker_id": "w1"}`,
			`{"modules": [], "imported": ["colorsys", "graphlib", "numpy", "numpy.linalg", "numpyx", "wave"], "pid": 7, "worker_id": "w1"}`,
			leak.IgnoreModules("colorsys", "numpy", "numpy.*"))
		Expect(d.Modules).To(Equal([]string{"+ graphlib", "+ numpyx", "+ wave"}))
	})

	It("does not compare the states of two workers, and says so", func() {
		d := pythonDiff(
			`{"modules": [], "imported": [], "globals": {"m": {"x": "int:1"}}, "pid": 7, "worker_id": "w1"}`,
			`{"modules": [], "imported": ["colorsys"], "globals": {"m": {"x": "int:2"}}, "pid": 8, "worker_id": "w2"}`)
		Expect(d.Empty()).To(BeFalse(), "a finding")
		Expect(d.Modules).To(BeEmpty())
		Expect(d.Globals).To(BeEmpty())
		Expect(d.String()).To(ContainSubstring("the state before came from worker w1 (pid 7), the state after from worker w2 (pid 8)"))
	})

	It("names the worker whose globals changed", func() {
		d := pythonDiff(
			`{"modules": [], "imported": [], "globals": {"cart": {"CART": "list:[]"}}, "pid": 7, "worker_id": "w1"}`,
			`{"modules": [], "imported": [], "globals": {"cart": {"CART": "list:['pear']"}}, "pid": 7, "worker_id": "w1"}`)
		Expect(d.String()).To(Equal("Python globals changed in worker w1 (pid 7):\n  ~ cart.CART: list:[] -> list:['pear']"))
	})

	// pipe returns both ends of a new pipe, closed when the spec ends, and
	// what /proc/self/fd names them (one target for both ends).
	pipe := func() (target string) {
		GinkgoHelper()
		r, w, err := os.Pipe()
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { r.Close(); w.Close() })
		return ownership.FileOf(r)
	}

	It("tells the files of what a pool accounts for from a worker of the spec's own and the spec's own files", func() {
		pool := ownership.Register(nil, ownership.Pool, "run-1", 0, ownership.Ops{})
		DeferCleanup(pool.Release)
		before, err := leak.Take(context.Background())
		Expect(err).NotTo(HaveOccurred())

		replacement := pipe() // a replacement of the pool's crashed worker
		w := ownership.Register(pool, ownership.SpawnedWorker, "replacement", 0, ownership.Ops{Files: []string{replacement}})
		DeferCleanup(w.Release)
		mine := pipe() // a worker of the spec's own, left open
		own := ownership.Register(nil, ownership.SpawnedWorker, "mine", 0, ownership.Ops{Files: []string{mine}})
		DeferCleanup(own.Release)
		f, err := os.Open(os.DevNull) // the spec's own file
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(f.Close)

		after, err := leak.Take(context.Background())
		Expect(err).NotTo(HaveOccurred())
		d := before.Diff(after)
		text := strings.Join(d.FDs, "\n")
		Expect(text).NotTo(ContainSubstring(replacement), "the pool's replacement's files are not reported")
		// Both ends of the spec's worker's pipe, named by it and by the line
		// that registered it (this spec's: the original test, inside
		// isolation/leak, read "started by pyharness itself").
		Expect(strings.Count(text, mine+" (spawned worker mine, started at ")).To(Equal(2), "both ends of the spec's worker's pipe, named by it:\n%s", text)
		Expect(text).To(ContainSubstring("suites/internal/unit/leakdiff.go:"), "at the spec's line")
		Expect(d.FDs).To(ContainElement(HaveSuffix("-> "+os.DevNull)), "the spec's own file, reported as before")
		Expect(d.FDs).To(HaveLen(3), "the new fds:\n%s", text)
	})

	It("names a pidfd by the process it refers to", func() {
		before, err := leak.Take(context.Background())
		Expect(err).NotTo(HaveOccurred())
		p, err := os.StartProcess("/bin/sleep", []string{"sleep", "60"}, &os.ProcAttr{})
		if err != nil {
			Skip(fmt.Sprintf("no /bin/sleep: %v", err))
		}
		DeferCleanup(func() { _ = p.Kill(); _, _ = p.Wait() })
		after, err := leak.Take(context.Background())
		Expect(err).NotTo(HaveOccurred())
		text := strings.Join(before.Diff(after).FDs, "\n")
		if !strings.Contains(text, "anon_inode:[pidfd]") {
			Skip("os/exec holds no pidfd here (an old kernel):\n" + text)
		}
		Expect(text).To(ContainSubstring(fmt.Sprintf("anon_inode:[pidfd] (of pid %d)", p.Pid)))
	})

	// The end-of-suite check treats every pool and interpreter alive as a
	// leak (and kills it): here, in a binary whose other specs have pools
	// open, it runs in a nested run of this binary that registers this
	// package alone and runs only the spec below.
	It("does not report again at the end a goroutine a spec's check reported (in a nested run of this package alone)", func() {
		cmd := exec.Command(os.Args[0], suite.Run, "-ginkgo.no-color", "-ginkgo.focus="+endCheckSpec)
		cmd.Env = append(os.Environ(), suite.Only("unit"), endCheckEnv+"=1")
		session, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		Eventually(session).WithTimeout(2 * time.Minute).Should(gexec.Exit(0))
		Expect(session.Out).To(gbytes.Say(`Ran 1 of \d+ Specs`))
	})
})

// endCheckEnv registers the spec the nested run executes.
const endCheckEnv = "PYHARNESS_TEST_UNIT_END_CHECK"

const endCheckSpec = "the end does not report again a goroutine a check reported"

var _ = os.Getenv(endCheckEnv) == "1" && describe("leak (nested run)", func() {
	// Both forms of the end's baseline, AtEnd (goleak's baseline alone)
	// and End (Begin's, which knows the goroutines of the start), see one
	// goroutine a spec's check reported. A check that reports a goroutine
	// waits goleak's retries (about 0.4 s) out: each form's check of a
	// goroutine left after the spec's check is the one that also shows
	// the reported goroutine is not reported again (it would be a second
	// leak in it), and a goroutine that form's check reported is not
	// reported by the other form's either.
	It("the end does not report again a goroutine a check reported", func() {
		suite := goleak.IgnoreCurrent()
		begun, err := leak.Begin()
		Expect(err).NotTo(HaveOccurred())
		forms := map[string]func() *leak.Baseline{
			"AtEnd": func() *leak.Baseline { return leak.AtEnd(suite) },
			"End":   func() *leak.Baseline { return begun.End() }, // a quiet end makes no goleak.Find
		}

		test, err := leak.Begin()
		Expect(err).NotTo(HaveOccurred())
		reportedStop, laterStop := make(chan struct{}), make(chan struct{})
		defer close(reportedStop)
		defer close(laterStop)
		go blockedUntil(reportedStop)
		var r *leak.Report
		err = test.Check("the spec left running")
		Expect(errors.As(err, &r)).To(BeTrue(), "the spec's check: %v", err)
		Expect(r.Goroutines()).To(HaveLen(1), "the spec's check: %v", err)
		seen := map[string]bool{r.Goroutines()[0].ID: true}

		finds := counts.GoroutineFinds.Load()
		Expect(forms["End"]().Check("left at the end")).To(Succeed(), "End: the end does not report again what a spec's check had")
		Expect(counts.GoroutineFinds.Load()).To(Equal(finds), "End: nothing left to report, told without goleak.Find")

		for _, form := range []string{"AtEnd", "End"} {
			go leftAfterTheCheck(laterStop) // left after the spec's check: the end reports it
			err = forms[form]().Check("left at the end")
			Expect(errors.As(err, &r)).To(BeTrue(), "%s: the end: %v", form, err)
			Expect(r.Goroutines()).To(HaveLen(1), "%s: the end reports the goroutine no check reported, and only it: %v", form, err)
			g := r.Goroutines()[0]
			Expect(seen).NotTo(HaveKey(g.ID), "%s: the end reports the goroutine no check reported, not one reported before: %v", form, err)
			Expect(g.Stack).To(ContainSubstring("leftAfterTheCheck"), "%s: the end reports the goroutine no check reported: %v", form, err)
			seen[g.ID] = true
		}
	})
})

// leftAfterTheCheck is a goroutine the nested spec leaves after its
// spec's check, until it closes stop.
func leftAfterTheCheck(stop chan struct{}) { <-stop }
