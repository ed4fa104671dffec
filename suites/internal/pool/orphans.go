package pool

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/isolation/leak"
	"github.com/pyharness/pyharness/realpy"
	"github.com/pyharness/pyharness/suites/internal/suite"
)

const orphanMakerEnv = "PYHARNESS_TEST_ORPHAN_MAKER"

// runOrphanMaker, in the mode $PYHARNESS_TEST_ORPHAN_MAKER names, leaves
// interpreters that hang ignoring SIGTERM (so EOF on their channel does not
// end them), prints their pids and waits to be killed; in mode "reaper" it
// is the next run: it starts and closes one worker, and exits.
func runOrphanMaker() {
	ctx := context.Background()
	switch os.Getenv(orphanMakerEnv) {
	case "reaper":
		w, err := realpy.Start(ctx)
		if err != nil {
			fmt.Println("start failed:", err)
			os.Exit(1)
		}
		os.Exit(map[bool]int{true: 0, false: 1}[w.Close() == nil])
	case "start":
		runStartOrphans(ctx)
	}
	p, err := realpy.StartPool(ctx, realpy.WithSize(2), realpy.WithOutput(os.Stdout))
	if err != nil {
		fmt.Println("start failed:", err)
		os.Exit(1)
	}
	var pids []string
	for _, w := range p.Workers() {
		pids = append(pids, strconv.Itoa(w.Pid()))
		go w.Call(ctx, "hang", map[string]any{"ignore_term": true, "announce": "hanging " + w.ID()}, nil)
	}
	fmt.Println("pids:", strings.Join(pids, ","))
	select {}
}

// runStartOrphans leaves a worker of realpy.Start and a zygote of
// StartZygote with a forked worker, none of them given a run id.
func runStartOrphans(ctx context.Context) {
	w, err := realpy.Start(ctx, realpy.WithOutput(os.Stdout))
	if err == nil {
		go w.Call(ctx, "hang", map[string]any{"ignore_term": true, "announce": "hanging " + w.ID()}, nil)
	}
	z, err2 := realpy.StartZygote(ctx)
	var f *realpy.Worker
	if err2 == nil {
		f, err2 = z.Fork(ctx)
	}
	if err != nil || err2 != nil {
		fmt.Println("start failed:", err, err2)
		os.Exit(1)
	}
	go f.Call(ctx, "hang", map[string]any{"ignore_term": true}, nil)
	path, _, _ := strings.Cut(strings.TrimPrefix(z.Addr(), "unix:"), "#")
	fmt.Printf("dir: %s\n", filepath.Dir(path))
	fmt.Printf("pids: %d,%d,%d\n", w.Pid(), z.Pid(), f.Pid())
	select {}
}

// startOrphanMaker runs this test binary in a maker mode and returns the
// pids it prints and its output.
func startOrphanMaker(mode string) (*gexec.Session, []int) {
	GinkgoHelper()
	cmd := exec.Command(os.Args[0], suite.Run)
	cmd.Env = append(os.Environ(), orphanMakerEnv+"="+mode)
	owner, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(owner.Kill)
	Eventually(owner).WithTimeout(time.Minute).Should(gbytes.Say(`pids: ([\d,]+)\n`))
	match := regexp.MustCompile(`pids: ([\d,]+)\n`).FindSubmatch(owner.Out.Contents())
	var pids []int
	for _, s := range strings.Split(string(match[1]), ",") {
		pid, err := strconv.Atoi(s)
		Expect(err).NotTo(HaveOccurred())
		pids = append(pids, pid)
	}
	return owner, pids
}

// nextRun runs this test binary as the next run of a suite that only uses
// realpy.Start: one worker started and closed.
func nextRun() {
	GinkgoHelper()
	cmd := exec.Command(os.Args[0], suite.Run)
	cmd.Env = append(os.Environ(), orphanMakerEnv+"=reaper")
	run, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	Eventually(run).WithTimeout(time.Minute).Should(gexec.Exit(0))
}

// Serial: a pool started by a parallel process would reap the orphans first.
var _ = describe("Orphan reaping", Serial, harness.Integration, harness.PythonReal, func() {
	It("kills the interpreters of a run whose owner was SIGKILLed", func(ctx SpecContext) {
		owner, pids := startOrphanMaker("pool")
		Expect(pids).To(HaveLen(2))
		// Both workers are in their hang (the lines may come before or after the pids).
		Eventually(func() int { return strings.Count(string(owner.Out.Contents()), "] hanging ") }).Should(Equal(2))

		Eventually(owner.Kill()).Should(gexec.Exit(128 + 9))
		for _, pid := range pids {
			Expect(leak.ProcessAlive(pid)).To(BeTrue(), "hung workers outlive their SIGKILLed owner")
		}

		nextRun() // the next run's first start reaps what the dead run left
		for _, pid := range pids {
			Expect(leak.ProcessAlive(pid)).To(BeFalse(), "the next run waits until orphans are gone")
		}
		Expect(leak.ProcessesOwnedBy(owner.Command.Process.Pid)).To(BeEmpty())
	}, SpecTimeout(2*time.Minute))

	It("kills what realpy.Start and StartZygote left without a run id, and their temp dirs (#11.4)", func(ctx SpecContext) {
		owner, pids := startOrphanMaker("start")
		dir := regexp.MustCompile(`dir: (\S+)\n`).FindSubmatch(owner.Out.Contents())
		Expect(dir).NotTo(BeNil())
		Expect(string(dir[1])).To(BeADirectory())
		Eventually(func() string { return string(owner.Out.Contents()) }).Should(ContainSubstring("] hanging "))

		Eventually(owner.Kill()).Should(gexec.Exit(128 + 9))
		Expect(leak.ProcessAlive(pids[0])).To(BeTrue(), "a hung worker outlives its SIGKILLed owner")

		nextRun()
		for _, pid := range pids {
			Expect(leak.ProcessAlive(pid)).To(BeFalse(), "pid %d: the worker, the zygote and its fork are reaped", pid)
		}
		Expect(string(dir[1])).NotTo(BeADirectory(), "the zygote's socket directory is removed")
		Expect(leak.ProcessesOwnedBy(owner.Command.Process.Pid)).To(BeEmpty())
	}, SpecTimeout(2*time.Minute))

	It("leaves the interpreters of live runs alone", func(ctx SpecContext) {
		p := startPool(ctx, realpy.WithSize(1))
		reaped, err := realpy.ReapOrphans()
		Expect(err).NotTo(HaveOccurred())
		Expect(reaped).To(BeEmpty())
		Expect(p.Call(ctx, "ping", nil, nil)).To(Succeed())
	}, SpecTimeout(time.Minute))
})
