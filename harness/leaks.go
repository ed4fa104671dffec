package harness

import (
	. "github.com/onsi/ginkgo/v2"
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
	if err := leak.AtEnd(baseline, keep...).Check("pyharness: left running at the end of the suite"); err != nil {
		Fail(err.Error())
	}
}

// checkNoInterpreters is process 1's last check, once the pool host is
// stopped: no interpreter this process started is left.
func (sp *SharedPool) checkNoInterpreters() {
	GinkgoHelper()
	if err := leak.AtEnd(nil).Check("pyharness: interpreters left running at the end of the suite"); err != nil {
		Fail(err.Error())
	}
}
