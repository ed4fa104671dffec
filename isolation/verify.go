package isolation

import (
	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"

	"github.com/pyharness/pyharness/internal/suitelife"
	"github.com/pyharness/pyharness/isolation/leak"
)

// VerifyNoLeaks registers, at the top level of a suite, the checks that fail
// it when goroutines or interpreters are left behind: after every spec (a
// goleak baseline taken when the spec starts, and the processes this Go
// process owns) and at the end of the suite. The end of the suite is a part
// of the suite's SynchronizedBeforeSuite and SynchronizedAfterSuite, which
// pyharness shares between its suite-level setups: a suite may have shared
// pools (harness.NewSharedPool) too, whose hosts and pools are not leaks
// and are stopped before the check runs. A suite whose per-spec checks
// must not apply to every spec uses VerifyNoLeaksAtEnd at the top level
// and VerifyNoLeaksPerSpec inside the containers they apply to.
//
// The end of the suite names each interpreter left running (kind, worker
// id, pid and the line that started it) before any goroutine, and kills it
// with the goroutines pyharness ran for it.
//
//	var _ = isolation.VerifyNoLeaks()
func VerifyNoLeaks() bool {
	endCheck(userLocation())
	return VerifyNoLeaksPerSpec()
}

// VerifyNoLeaksAtEnd registers, at the top level of a suite, the end-of-suite
// half of VerifyNoLeaks: each process checks, once its specs and its shared
// pools are done, that no goroutine started during the suite and no
// interpreter it started is left. A suite with shared pools has this check
// already; it runs once however many ask for it.
//
//	var _ = isolation.VerifyNoLeaksAtEnd()
func VerifyNoLeaksAtEnd() bool {
	endCheck(userLocation())
	return true
}

// endCheck adds the end-of-suite stage; harness's shared pools add the same
// one, under the same key: it runs once.
func endCheck(at types.CodeLocation) {
	var baseline *leak.Baseline
	suitelife.Add(suitelife.Stage{Key: "pyharness/leaks-at-end", Outer: true,
		All: func(SpecContext, []byte) {
			b, err := leak.Begin()
			if err != nil {
				Fail("pyharness: the baseline of the end-of-suite leak check: " + err.Error())
			}
			baseline = b
		},
		AfterAll: func(SpecContext) {
			if baseline == nil { // the setup failed before this process's part
				return
			}
			// The report is placed at the user's `var _ =
			// isolation.VerifyNoLeaks()`: no line of theirs is on the stack here.
			if err := baseline.End(suitelife.Kept()...).Check("pyharness: left running at the end of the suite"); err != nil {
				DeferCleanup(func() error { return err }, at)
			}
		},
		AfterFirst: func(SpecContext) {
			if err := leak.AtEnd(nil).Check("pyharness: interpreters left running at the end of the suite"); err != nil {
				DeferCleanup(func() error { return err }, at)
			}
		},
	})
}

// VerifyNoLeaksPerSpec registers the per-spec half of VerifyNoLeaks. Its
// cleanup is registered first, so it runs last: after every worker a spec
// started has been closed. What a pool that ran before the spec owns (a
// suite-level pool, its zygote, the workers it starts to replace crashed
// ones, and the goroutines pyharness runs for them) is not the spec's; a
// worker or pool the spec started and did not close is: the failure names
// it (kind, worker id, pid, the spec's line that started it), and it is
// killed so that the next spec starts clean.
//
// In an Ordered container, what the container's BeforeAll starts (it runs
// after this BeforeEach, before the first spec) is the container's, not the
// first spec's: the end of the suite (VerifyNoLeaks) checks it.
func VerifyNoLeaksPerSpec() bool {
	var baseline *leak.Baseline
	BeforeEach(func() {
		var err error
		if baseline, err = leak.Begin(); err != nil {
			Fail(err.Error())
		}
		b := baseline
		// The check runs after the spec, with no line of the spec on the
		// stack: its failure is placed at the spec's It (the leaks' own
		// start sites are in the text).
		DeferCleanup(func() error {
			return b.Check("pyharness: the spec left running")
		}, CurrentSpecReport().LeafNodeLocation)
	})
	JustBeforeEach(func() {
		if CurrentSpecReport().IsInOrderedContainer {
			if err := baseline.Adopt(); err != nil {
				Fail(err.Error())
			}
		}
	})
	return true
}
