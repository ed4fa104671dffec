package pool_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
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
)

const orphanMakerEnv = "PYHARNESS_TEST_ORPHAN_MAKER"

// runOrphanMaker starts a pool whose workers hang ignoring SIGTERM (so EOF
// on their channel does not end them), prints their pids and waits to be
// killed.
func runOrphanMaker() {
	ctx := context.Background()
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

// Serial: a pool started by a parallel process would reap the orphans first.
var _ = Describe("Orphan reaping", Serial, harness.Integration, harness.PythonReal, func() {
	It("kills the interpreters of a run whose owner was SIGKILLed", func(ctx SpecContext) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestPool$")
		cmd.Env = append(os.Environ(), orphanMakerEnv+"=1")
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
		Expect(pids).To(HaveLen(2))
		// Both workers are in their hang (the lines may come before or after the pids).
		Eventually(func() int { return strings.Count(string(owner.Out.Contents()), "] hanging ") }).Should(Equal(2))

		Eventually(owner.Kill()).Should(gexec.Exit(128 + 9))
		for _, pid := range pids {
			Expect(leak.ProcessAlive(pid)).To(BeTrue(), "hung workers outlive their SIGKILLed owner")
		}

		p := startPool(ctx, realpy.WithSize(1)) // a new pool start reaps what the dead run left
		for _, pid := range pids {
			Expect(leak.ProcessAlive(pid)).To(BeFalse(), "StartPool waits until orphans are gone")
		}
		Expect(p.Call(ctx, "ping", nil, nil)).To(Succeed())
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
