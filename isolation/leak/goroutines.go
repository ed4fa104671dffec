package leak

import (
	"go.uber.org/goleak"

	"github.com/pyharness/pyharness/internal/counts"
	"github.com/pyharness/pyharness/internal/ownership"
	"github.com/pyharness/pyharness/internal/stacks"
)

// ginkgoFunctions are functions at the root of goroutines that Ginkgo itself
// runs between specs; they come and go with its output interception in
// parallel runs (ginkgo -p) and are not leaks of the code under test.
var ginkgoFunctions = []string{
	"github.com/onsi/ginkgo/v2/internal.(*genericOutputInterceptor).ResumeIntercepting.func1",
	"github.com/onsi/ginkgo/v2/internal.(*genericOutputInterceptor).ResumeIntercepting.func1.1",
	"github.com/onsi/ginkgo/v2/internal/interrupt_handler.(*InterruptHandler).registerForInterrupts.func2",
}

// IgnoreGinkgo returns goleak options that ignore Ginkgo's own goroutines,
// so a goroutine check inside a Ginkgo suite reports only real leaks.
func IgnoreGinkgo() []goleak.Option {
	opts := make([]goleak.Option, 0, len(ginkgoFunctions))
	for _, fn := range ginkgoFunctions {
		opts = append(opts, goleak.IgnoreAnyFunction(fn))
	}
	return opts
}

// FindLeakedGoroutines returns an error listing the goroutines that are
// running now but were not when baseline was taken (goleak.IgnoreCurrent),
// ignoring Ginkgo's own, one block each with where it was created. goleak
// retries for a while before it reports, so goroutines that are already
// ending are not reported. pyharness's own goroutines for interpreters a
// pool owns (a replacement, a shared pool) are not reported either; those
// of a worker left open are, until it is closed (Baseline.Check names and
// kills it first).
func FindLeakedGoroutines(baseline goleak.Option, opts ...goleak.Option) error {
	counts.GoroutineFinds.Add(1)
	found := goleak.Find(append(append(IgnoreGinkgo(), baseline), opts...)...)
	if found == nil {
		return nil
	}
	excused := false
	for _, t := range ownership.Live() {
		if t.Root().Kind == ownership.Pool || t.Root().Suite {
			excused = true
			break
		}
	}
	r := &Report{Title: "found unexpected goroutines", Leaks: goroutinesFrom(found, func(stacks.Goroutine) bool { return excused })}
	return r.err()
}
