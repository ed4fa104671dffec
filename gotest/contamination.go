package gotest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/pyharness/pyharness"
	"github.com/pyharness/pyharness/isolation/leak"
)

// DetectContamination snapshots everything t could leave behind and fails
// t with a readable diff of what changed when it ends: goroutines,
// processes started through pyharness, open file descriptors, files in t's
// temp dir, environment variables, and, when worker is not nil, the
// worker's Python state (the modules its handlers imported, changed
// globals of its handler modules; the worker's own lazy imports are not
// counted, IgnoreModules leaves out more). t gets a private TMPDIR. Not
// with t.Parallel (the testing package refuses it, as for t.Setenv).
func DetectContamination(t testing.TB, worker pyharness.Caller, opts ...leak.SnapshotOption) {
	t.Helper()
	forbidParallel(t, "DetectContamination")
	tmp, err := os.MkdirTemp("", "pyharness-test-")
	if err != nil {
		t.Fatalf("pyharness: %v", err)
	}
	all := append([]leak.SnapshotOption{leak.WithTempDirs(tmp), leak.IgnoreEnv("TMPDIR", "PYHARNESS_GOTEST_CHECK")}, opts...)
	if worker != nil {
		all = append(all, leak.WithPython(worker))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	before, err := leak.Take(ctx, all...)
	if err != nil {
		os.RemoveAll(tmp)
		t.Fatalf("pyharness: snapshot before %s: %v", t.Name(), err)
	}
	t.Setenv("TMPDIR", tmp) // restored by testing after the cleanup below
	t.Cleanup(func() {
		t.Helper() // failures read at the line that called DetectContamination
		defer os.RemoveAll(tmp)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		after, err := leak.Take(ctx, all...)
		if err != nil {
			t.Errorf("pyharness: snapshot after %s: %v", t.Name(), err)
			return
		}
		if err := before.Diff(after).Err(); err != nil {
			t.Errorf("pyharness: %s: %v", t.Name(), err)
		}
	})
}

// IgnoreModules is an option of DetectContamination: it leaves these Python
// modules out of the check (modules a test imports on purpose). A name
// matches exactly; "pkg.*" matches the submodules of pkg.
func IgnoreModules(names ...string) leak.SnapshotOption { return leak.IgnoreModules(names...) }
