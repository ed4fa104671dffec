package leak_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/pyharness/pyharness/internal/ownership"
	"github.com/pyharness/pyharness/isolation/leak"
)

// pipe returns both ends of a new pipe, closed when t ends, and what
// /proc/self/fd names them (one target for both ends).
func pipe(t *testing.T) (r, w *os.File, target string) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w, ownership.FileOf(r)
}

func TestDiffTellsTheFilesOfWhatAPoolAccountsFor(t *testing.T) {
	pool := ownership.Register(nil, ownership.Pool, "run-1", 0, ownership.Ops{})
	defer pool.Release()
	before, err := leak.Take(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	_, _, replacement := pipe(t) // a replacement of the pool's crashed worker
	w := ownership.Register(pool, ownership.SpawnedWorker, "replacement", 0, ownership.Ops{Files: []string{replacement}})
	defer w.Release()
	_, _, mine := pipe(t) // a worker of the test's own, left open
	own := ownership.Register(nil, ownership.SpawnedWorker, "mine", 0, ownership.Ops{Files: []string{mine}})
	defer own.Release()
	f, err := os.Open(os.DevNull) // the test's own file
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	after, err := leak.Take(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	d := before.Diff(after)
	text := strings.Join(d.FDs, "\n")
	if strings.Contains(text, replacement) {
		t.Errorf("the pool's replacement's files are reported:\n%s", text)
	}
	if n := strings.Count(text, mine+" (spawned worker mine, started by pyharness itself)"); n != 2 {
		t.Errorf("want both ends of the test's worker's pipe, named by it; got:\n%s", text)
	}
	if !strings.Contains(text, "-> "+os.DevNull+"\n") && !strings.HasSuffix(text, "-> "+os.DevNull) {
		t.Errorf("the test's own file is not reported as before:\n%s", text)
	}
	if len(d.FDs) != 3 {
		t.Errorf("want 3 new fds, got %d:\n%s", len(d.FDs), text)
	}
}

func TestDiffNamesAPidfdByItsProcess(t *testing.T) {
	before, err := leak.Take(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p, err := os.StartProcess("/bin/sleep", []string{"sleep", "60"}, &os.ProcAttr{})
	if err != nil {
		t.Skipf("no /bin/sleep: %v", err)
	}
	defer func() { _ = p.Kill(); _, _ = p.Wait() }()
	after, err := leak.Take(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(before.Diff(after).FDs, "\n")
	if !strings.Contains(text, "anon_inode:[pidfd]") {
		t.Skipf("os/exec holds no pidfd here (an old kernel):\n%s", text)
	}
	if want := fmt.Sprintf("anon_inode:[pidfd] (of pid %d)", p.Pid); !strings.Contains(text, want) {
		t.Errorf("a pidfd is named by the process it refers to, want %q:\n%s", want, text)
	}
}
