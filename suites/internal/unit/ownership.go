package unit

import (
	"context"
	"os"
	"reflect"
	"runtime"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/internal/ownership"
)

var _ = describe("ownership: what pyharness started, and for whom", func() {
	It("ends an entry with its process, and names the spec's line that registered it as its start site", func() {
		exited := make(chan struct{})
		e := ownership.Register(nil, ownership.SpawnedWorker, "w1", 42, ownership.Ops{Exited: exited})
		_, file, line, _ := runtime.Caller(0)
		Expect(e.Site).To(HaveSuffix("ownership.go:%d", line-1), "a suite's spec file (%s) is not pyharness's library", file)
		Expect(ownership.ByPid(42)).To(BeIdenticalTo(e))
		close(exited)
		Expect(e.Gone()).To(BeTrue(), "still live after its process exited")
		Expect(ownership.ByPid(42)).To(BeNil())
	})

	It("roots a pool's worker at the pool while the pool lives, and orders registrations", func() {
		pool := ownership.Register(nil, ownership.Pool, "p", 0, ownership.Ops{})
		DeferCleanup(pool.Release)
		w := ownership.Register(ownership.OwnerFrom(ownership.WithOwner(context.Background(), pool)), ownership.ForkedWorker, "w", 43, ownership.Ops{})
		DeferCleanup(w.Release)
		Expect(w.Root()).To(BeIdenticalTo(pool), "a pool's worker has the pool as root")
		Expect(ownership.Children(pool)).To(ConsistOf(BeIdenticalTo(w)))
		pool.Release()
		Expect(w.Root()).To(BeIdenticalTo(w), "a worker that outlives its pool is its own root")
		Expect(w.Seq).To(BeNumerically(">", pool.Seq))
		Expect(ownership.Seq()).To(BeNumerically(">=", w.Seq))
	})

	DescribeTable("tells pyharness's library and the standard library from the user's code",
		func(fn string, library, stdlib bool) {
			Expect([]bool{ownership.Library(fn), ownership.Stdlib(fn, "")}).To(Equal([]bool{library, stdlib}))
		},
		Entry(nil, "github.com/pyharness/pyharness/realpy.(*Pool).startMember", true, false),
		Entry(nil, "github.com/pyharness/pyharness.Caller", true, false),
		Entry(nil, "github.com/pyharness/pyharness/suites/internal/isolation.glob..func1", false, false),
		Entry(nil, "github.com/pyharness/pyharness/suites/internal/gotest/testdata/_fixture.TestX", false, false),
		Entry(nil, "example.com/tagger.TestTags", false, false),
		Entry(nil, "testing.tRunner", false, true),
		Entry(nil, "os/exec.(*Cmd).Start", false, true),
		Entry(nil, "main.main", false, false),
	)

	It("tells the standard library by its file, under GOROOT", func() {
		pc := reflect.ValueOf(strings.Contains).Pointer()
		file, _ := runtime.FuncForPC(pc).FileLine(pc)
		if !strings.HasPrefix(file, runtime.GOROOT()) { //nolint:staticcheck // where this binary's standard library was
			Skip("built without the standard library's paths (-trimpath)")
		}
		Expect(ownership.Stdlib("strings.Contains", file)).To(BeTrue(), "a file under GOROOT/src is the standard library's")
		Expect(ownership.Stdlib("tagger.TestTags", "/home/me/tagger/tagger_test.go")).To(BeFalse(),
			"a module without a dot in its path is not the standard library")
	})

	It("knows the entry that holds a file, by the files entries hold", func() {
		r, w, err := os.Pipe()
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(r.Close)
		DeferCleanup(w.Close)
		target := ownership.FileOf(r)
		Expect(target).To(HavePrefix("pipe:["))
		Expect(ownership.FileOf(w)).To(Equal(target), "one pipe:[inode] for both ends")
		e := ownership.Register(nil, ownership.SpawnedWorker, "w-files", 0, ownership.Ops{Files: []string{target}})
		Expect(ownership.Holders()[target]).To(BeIdenticalTo(e))
		e.Release()
		Expect(ownership.Holders()[target]).To(BeNil(), "an ended entry still holds its pipe")
	})
})
