package ownership

import (
	"context"
	"os"
	"strings"
	"testing"
)

func TestRegisterEndsWithItsProcess(t *testing.T) {
	exited := make(chan struct{})
	e := Register(nil, SpawnedWorker, "w1", 42, Ops{Exited: exited})
	if e.Site != "" {
		t.Fatalf("site %q: this test is pyharness's own code (internal/), and testing's is the standard library's: no frame is a start site", e.Site)
	}
	if ByPid(42) != e {
		t.Fatal("not found by pid")
	}
	close(exited)
	if !e.Gone() || ByPid(42) != nil {
		t.Fatal("still live after its process exited")
	}
}

func TestOwnerAndOrphans(t *testing.T) {
	pool := Register(nil, Pool, "p", 0, Ops{})
	defer pool.Release()
	w := Register(OwnerFrom(WithOwner(context.Background(), pool)), ForkedWorker, "w", 43, Ops{})
	defer w.Release()
	if w.Root() != pool {
		t.Fatal("a pool's worker has the pool as root")
	}
	if got := Children(pool); len(got) != 1 || got[0] != w {
		t.Fatalf("children %v", got)
	}
	pool.Release()
	if w.Root() != w {
		t.Fatal("a worker that outlives its pool is its own root")
	}
	if w.Seq <= pool.Seq || Seq() < w.Seq {
		t.Fatal("registration order")
	}
}

func TestLibraryAndStdlib(t *testing.T) {
	for fn, want := range map[string][2]bool{
		"github.com/pyharness/pyharness/realpy.(*Pool).startMember":            {true, false},
		"github.com/pyharness/pyharness.Caller":                                {true, false},
		"github.com/pyharness/pyharness/suites/isolation_test.glob..func1":     {false, false},
		"github.com/pyharness/pyharness/suites/gotest/testdata/_fixture.TestX": {false, false},
		"example.com/tagger.TestTags":                                          {false, false},
		"testing.tRunner":                                                      {false, true},
		"os/exec.(*Cmd).Start":                                                 {false, true},
		"main.main":                                                            {false, false},
	} {
		if got := [2]bool{Library(fn), Stdlib(fn, "")}; got != want {
			t.Errorf("%s: library, stdlib = %v, want %v", fn, got, want)
		}
	}
}

func TestStdlibByFile(t *testing.T) {
	root := goroot()
	if root == "" {
		t.Skip("built without the standard library's paths")
	}
	if !Stdlib("testing.tRunner", root+"testing/testing.go") {
		t.Error("a file under GOROOT/src is the standard library's")
	}
	if Stdlib("tagger.TestTags", "/home/me/tagger/tagger_test.go") {
		t.Error("a module without a dot in its path is not the standard library")
	}
}

func TestHoldersByTheFilesEntriesHold(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	target := FileOf(r)
	if !strings.HasPrefix(target, "pipe:[") || FileOf(w) != target {
		t.Fatalf("FileOf: %q and %q, want one pipe:[inode] for both ends", target, FileOf(w))
	}
	e := Register(nil, SpawnedWorker, "w-files", 0, Ops{Files: []string{target}})
	if Holders()[target] != e {
		t.Fatal("the entry does not hold its pipe")
	}
	e.Release()
	if Holders()[target] != nil {
		t.Fatal("an ended entry still holds its pipe")
	}
}
