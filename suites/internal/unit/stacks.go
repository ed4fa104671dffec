package unit

import (
	"strconv"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/internal/stacks"
	"github.com/pyharness/pyharness/isolation/leak"
)

const realpyStack = `goroutine 42 [chan receive]:
github.com/pyharness/pyharness/realpy.newWorker.func1()
	/src/realpy/worker.go:121 +0xc5
created by github.com/pyharness/pyharness/realpy.newWorker in goroutine 38
	/src/realpy/worker.go:119 +0x5ea`

const execStack = `goroutine 39 [IO wait]:
internal/poll.runtime_pollWait(0x7f1408588e00, 0x72)
	/usr/local/go/src/runtime/netpoll.go:351 +0x85
os/exec.(*Cmd).Start.func2(0xc0003dc4e0)
	/usr/local/go/src/os/exec/exec.go:757 +0x3d
created by os/exec.(*Cmd).Start in goroutine 38
	/usr/local/go/src/os/exec/exec.go:756 +0x10f2`

func blockUntil(started, c chan struct{}) {
	close(started)
	<-c
}

var _ = describe("stacks: the goroutines a leak report names (isolation/leak)", func() {
	DescribeTable("tells pyharness's plumbing, and the standard library's, from the user's code",
		func(stack string, all, ours bool) {
			g, ok := stacks.Parse(stack)
			Expect(ok).To(BeTrue(), "parsed")
			gotAll, gotOurs := g.Plumbing()
			Expect([]bool{gotAll, gotOurs}).To(Equal([]bool{all, ours}), "goroutine %d", g.ID)
		},
		Entry("realpy's worker goroutine: plumbing, pyharness's", realpyStack, true, true),
		Entry("os/exec copying a worker's output: plumbing, the standard library's", execStack, true, false),
	)

	It("parses a goroutine's state and the go statement that created it", func() {
		g, ok := stacks.Parse(realpyStack)
		Expect(ok).To(BeTrue())
		Expect(g.ID).To(Equal(42))
		Expect(g.State).To(Equal("chan receive"))
		Expect(g.Creator).To(Equal(stacks.Frame{Func: "github.com/pyharness/pyharness/realpy.newWorker", File: "/src/realpy/worker.go:119"}))
		Expect(g.Frames).To(Equal([]stacks.Frame{{Func: "github.com/pyharness/pyharness/realpy.newWorker.func1", File: "/src/realpy/worker.go:121"}}))
	})

	It("names a goroutine of the user's where it was created, and not as plumbing", func() {
		stop := make(chan struct{})
		DeferCleanup(func() { close(stop) })
		started := make(chan struct{})
		go blockUntil(started, stop)
		<-started
		var found []stacks.Goroutine
		for _, g := range stacks.All() {
			if g.HasFrame("github.com/pyharness/pyharness/suites/internal/unit.blockUntil") {
				found = append(found, g)
			}
		}
		Expect(found).To(HaveLen(1), "the goroutine is found")
		g := found[0]
		all, _ := g.Plumbing()
		Expect(all).To(BeFalse(), "a goroutine of the spec's own taken for pyharness's plumbing")
		Expect(g.Creator.File).To(ContainSubstring("suites/internal/unit/stacks.go:"), "created by this spec")
		l := leak.Leak{Kind: leak.KindGoroutine, ID: strconv.Itoa(g.ID), Site: g.Creator.File, Func: g.Creator.Func, Detail: g.State, Stack: g.Stack("    ")}
		Expect(l.String()).To(And(ContainSubstring("unit.blockUntil()"), ContainSubstring("created at "+g.Creator.File)))
	})
})
