package leak

import (
	"strconv"
	"strings"
	"testing"
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

func TestPlumbing(t *testing.T) {
	for stack, want := range map[string][2]bool{realpyStack: {true, true}, execStack: {true, false}} {
		g, ok := parseGoroutine(stack)
		if !ok {
			t.Fatalf("not parsed: %s", stack)
		}
		if all, ours := g.plumbing(); [2]bool{all, ours} != want {
			t.Errorf("goroutine %d: plumbing %v %v, want %v", g.id, all, ours, want)
		}
	}
	g, _ := parseGoroutine(realpyStack)
	if g.state != "chan receive" || g.creator.fn != "github.com/pyharness/pyharness/realpy.newWorker" || g.creator.file != "/src/realpy/worker.go:119" {
		t.Errorf("parsed %+v", g)
	}
}

func blockUntil(started, c chan struct{}) {
	close(started)
	<-c
}

func TestAGoroutineOfTheUsersIsNamedWhereItWasCreated(t *testing.T) {
	stop := make(chan struct{})
	defer close(stop)
	started := make(chan struct{})
	go blockUntil(started, stop)
	<-started
	for _, g := range allGoroutines() {
		if !g.hasFrame("github.com/pyharness/pyharness/isolation/leak.blockUntil") {
			continue
		}
		if all, _ := g.plumbing(); all {
			t.Error("a goroutine of the test's own taken for pyharness's plumbing")
		}
		if !strings.Contains(g.creator.file, "stacks_test.go:") {
			t.Errorf("created at %q", g.creator.file)
		}
		l := Leak{Kind: KindGoroutine, ID: strconv.Itoa(g.id), Site: g.creator.file, Func: g.creator.fn, Detail: g.state, Stack: g.stack("    ")}
		if s := l.String(); !strings.Contains(s, "leak.blockUntil()") || !strings.Contains(s, "created at "+g.creator.file) {
			t.Errorf("report:\n%s", s)
		}
		return
	}
	t.Fatal("the goroutine was not found")
}
