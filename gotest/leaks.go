package gotest

import (
	"fmt"

	"github.com/pyharness/pyharness/isolation/leak"
)

// leftAtEnd is the end-of-binary check, once the pool is closed: Python
// processes of this binary still there (named first: kind, worker id, pid,
// the test's line that started them; then killed, with the goroutines
// pyharness ran for them), then goroutines started during the run.
func (b *binary) leftAtEnd() []error {
	err := b.baseline.End().Check("left running after the tests", b.cfg.ignore...)
	r, ok := err.(*leak.Report)
	if !ok {
		if err != nil {
			return []error{err}
		}
		return nil
	}
	var errs []error
	if ps := r.Processes(); len(ps) > 0 {
		errs = append(errs, fmt.Errorf("Python processes left running after the tests:\n\t%s", join(ps)))
	}
	if cs := r.Calls(); len(cs) > 0 {
		errs = append(errs, fmt.Errorf("calls still in flight after the tests:\n\t%s", join(cs)))
	}
	if gs := r.Goroutines(); len(gs) > 0 {
		errs = append(errs, fmt.Errorf("goroutines left running after the tests:\n\t%s", join(gs)))
	}
	return errs
}
