package fixture

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/pyharness/pyharness/gotest"
	"github.com/pyharness/pyharness/realpy"
)

// TestContaminationThenPool is the first test to use the pool, with the
// contamination check called first: the pool starts inside it, and its
// files and goroutines are the binary's, not the test's.
func TestContaminationThenPool(t *testing.T) {
	gotest.DetectContamination(t, nil)
	if err := gotest.Pool(t).Call(t.Context(), "ping", nil, nil); err != nil {
		t.Fatal(err)
	}
}

// TestContaminationThenFresh is the same with a fresh worker of the pool.
func TestContaminationThenFresh(t *testing.T) {
	gotest.DetectContamination(t, nil)
	if err := gotest.Fresh(t).Call(t.Context(), "ping", nil, nil); err != nil {
		t.Fatal(err)
	}
}

// heal kills p's first worker, waits for its replacement and for p to be
// back to size, and calls every worker again: a correct test of
// supervision.
func heal(t *testing.T, p *realpy.Pool) {
	t.Helper()
	s := gotest.Supervise(t, p)
	old := s.KillWorker(p.Workers()[0])
	if _, err := s.WaitForRestart(t.Context(), old); err != nil {
		t.Fatal(err)
	}
	if err := s.BackToSize(t.Context()); err != nil {
		t.Fatal(err)
	}
	for range 2 * p.Size() {
		if err := p.Call(t.Context(), "ping", nil, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// TestContaminationWhileTheSharedPoolStartsAndHeals starts the shared pool
// after the check, then heals it.
func TestContaminationWhileTheSharedPoolStartsAndHeals(t *testing.T) {
	gotest.DetectContamination(t, nil)
	heal(t, gotest.Pool(t))
}

// TestContaminationWhileTheSharedPoolHeals heals the shared pool, started
// before the check.
func TestContaminationWhileTheSharedPoolHeals(t *testing.T) {
	p := gotest.Pool(t)
	gotest.DetectContamination(t, nil)
	heal(t, p)
}

// TestContaminationWhileASpawnPoolHeals heals a pool of spawned workers
// the test started before the check (and closes after it).
func TestContaminationWhileASpawnPoolHeals(t *testing.T) {
	gotest.Integration(t)
	dir, err := filepath.Abs("python")
	if err != nil {
		t.Fatal(err)
	}
	p, err := realpy.StartPool(t.Context(), realpy.WithSize(2), realpy.WithStrategy(realpy.Spawn),
		realpy.WithPythonPath(dir), realpy.WithModules("fixture_handlers"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	gotest.DetectContamination(t, nil)
	heal(t, p)
}

var leftOpen *os.File // reachable: a finalizer would close it

// TestContaminationLeavesAFileOpenWhileThePoolHeals heals the shared pool
// and leaves a file open: the file is the test's contamination, the
// replacement worker's files are not.
func TestContaminationLeavesAFileOpenWhileThePoolHeals(t *testing.T) {
	gotest.DetectContamination(t, nil) // in TestContaminationLeavesAFileOpenWhileThePoolHeals
	heal(t, gotest.Pool(t))
	path := os.Getenv(offenceEnv) + ".open"
	if err := os.WriteFile(path, []byte("kept open"), 0o600); err != nil {
		t.Fatal(err)
	}
	var err error
	if leftOpen, err = os.Open(path); err != nil {
		t.Fatal(err)
	}
	record(t, "file", fmt.Sprint(leftOpen.Fd()), 0, path) // id: its fd; site: its path
}

// TestContaminationLeavesAWorker starts a worker and never closes it.
func TestContaminationLeavesAWorker(t *testing.T) {
	gotest.Integration(t)
	gotest.DetectContamination(t, nil)
	w, err := realpy.Start(context.Background())
	site := here()
	if err != nil {
		t.Fatal(err)
	}
	record(t, "spawned worker", w.ID(), w.Pid(), site)
}
