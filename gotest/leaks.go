package gotest

import (
	"fmt"
	"strings"

	"github.com/pyharness/pyharness/isolation/leak"
)

// leftAtEnd is the end-of-binary check: goroutines started during the run
// and Python processes of this binary still there once the pool is closed.
func (b *binary) leftAtEnd() []error {
	var errs []error
	if err := leak.FindLeakedGoroutines(b.baseline, b.cfg.ignore...); err != nil {
		errs = append(errs, fmt.Errorf("goroutines left running after the tests:\n%w", err))
	}
	if left, err := leak.OwnedProcesses(); err != nil {
		errs = append(errs, err)
	} else if len(left) > 0 {
		names := make([]string, len(left))
		for i, p := range left {
			names[i] = p.String()
		}
		errs = append(errs, fmt.Errorf("Python processes left running after the tests:\n\t%s", strings.Join(names, "\n\t")))
	}
	return errs
}
