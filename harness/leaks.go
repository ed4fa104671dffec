package harness

import (
	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"

	"github.com/pyharness/pyharness/internal/callsite"
	"go.uber.org/goleak"

	"github.com/pyharness/pyharness/isolation/leak"
)

// checkEnd is each process's end-of-suite check, once its pool is closed:
// the interpreters it started and left running (named first, then killed,
// with the goroutines pyharness ran for them), then the goroutines started
// during the suite. The suite's pool host (process 1's) is not a leak.
func (sp *SharedPool) checkEnd(baseline goleak.Option) {
	GinkgoHelper()
	var keep []int
	sp.mu.Lock()
	if sp.host != nil && sp.host.Pid() > 0 {
		keep = append(keep, sp.host.Pid())
	}
	sp.mu.Unlock()
	sp.failAtUser(leak.AtEnd(baseline, keep...).Check("pyharness: left running at the end of the suite"))
}

// checkNoInterpreters is process 1's last check, once the pool host is
// stopped: no interpreter this process started is left.
func (sp *SharedPool) checkNoInterpreters() {
	GinkgoHelper()
	sp.failAtUser(leak.AtEnd(nil).Check("pyharness: interpreters left running at the end of the suite"))
}

// failAtUser fails the running node with err (when not nil), placed at the
// user's line that declared the pool: no line of theirs is on the stack at
// the end of the suite. The check itself has run (and killed what it
// found); only its report is deferred, to the end of the node.
func (sp *SharedPool) failAtUser(err error) {
	if err != nil {
		DeferCleanup(func() error { return err }, sp.at)
	}
}

// userLocation is the first line outside pyharness on the stack (a spec
// file's, preferably): where a check registered at the top level of a suite
// places the failures it finds after the suite, when no line of the user's
// is on the stack.
func userLocation() types.CodeLocation {
	f, _, ok := callsite.User(1)
	if !ok {
		return types.NewCodeLocation(2)
	}
	return types.CodeLocation{FileName: f.File, LineNumber: f.Line}
}
