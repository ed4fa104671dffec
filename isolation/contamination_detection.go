package isolation

import (
	"fmt"
	"os"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness"
	"github.com/pyharness/pyharness/isolation/leak"
)

// ContaminationDetectionMode snapshots everything a spec could leave behind, before
// and after it, and fails the spec with a readable diff of what changed:
// goroutines (goleak), processes started through pyharness, open file
// descriptors, files in the spec's temp dir, environment variables, and the
// worker's Python state (the modules its handlers imported, changed
// globals of its handler modules). The worker's own lazy imports
// (traceback formatting, asyncio, its package) are not counted;
// [IgnoreModules] leaves out modules a spec imports on purpose. The failure
// names the spec, where it is, the worker and what changed.
//
// Sets up: a private TMPDIR for the spec (so parallel specs cannot pollute
// each other's temp dir) and the first snapshot. Tears down: restores TMPDIR.
type ContaminationDetectionMode struct {
	worker func() pyharness.Caller
	opts   []leak.SnapshotOption
}

// ContaminationDetection registers the mode; worker returns the Python
// worker to watch (nil: Go-side checks only).
func ContaminationDetection(worker func() pyharness.Caller, opts ...leak.SnapshotOption) *ContaminationDetectionMode {
	m := &ContaminationDetectionMode{worker: worker, opts: opts}
	BeforeEach(func(ctx SpecContext) {
		tmp, err := os.MkdirTemp("", "pyharness-spec-")
		Expect(err).NotTo(HaveOccurred())
		old, had := os.LookupEnv("TMPDIR")
		opts := append([]leak.SnapshotOption{leak.WithTempDirs(tmp), leak.IgnoreEnv("TMPDIR"), leak.IgnoreGoroutines(leak.IgnoreGinkgo()...)}, m.opts...)
		if m.worker != nil {
			if w := m.worker(); w != nil {
				opts = append(opts, leak.WithPython(w))
			}
		}
		before, err := leak.Take(ctx, opts...)
		Expect(err).NotTo(HaveOccurred())
		Expect(os.Setenv("TMPDIR", tmp)).To(Succeed())
		// The check runs after the spec, with no line of the spec on the
		// stack: its failure is placed at the spec's It.
		DeferCleanup(func(ctx SpecContext) error {
			after, err := leak.Take(ctx, opts...)
			if had {
				os.Setenv("TMPDIR", old)
			} else {
				os.Unsetenv("TMPDIR")
			}
			defer os.RemoveAll(tmp)
			if err != nil {
				return fmt.Errorf("contamination detection: snapshot after the spec: %w", err)
			}
			if diff := before.Diff(after); !diff.Empty() {
				spec := CurrentSpecReport()
				return fmt.Errorf("contamination detected after spec %q (%s):\n%s", spec.FullText(), spec.LeafNodeLocation, diff.String())
			}
			return nil
		}, NodeTimeout(time.Minute), CurrentSpecReport().LeafNodeLocation)
	}, NodeTimeout(time.Minute))
	return m
}

// IgnoreModules is an option of ContaminationDetection: it leaves these
// Python modules out of the check (modules a spec imports on purpose). A
// name matches exactly; "pkg.*" matches the submodules of pkg.
func IgnoreModules(names ...string) leak.SnapshotOption { return leak.IgnoreModules(names...) }
