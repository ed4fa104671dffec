package isolation

import (
	"fmt"

	. "github.com/onsi/ginkgo/v2"

	"github.com/pyharness/pyharness/internal/randid"
)

// NewSpecID returns an id unique across specs and parallel processes.
func NewSpecID() string {
	return fmt.Sprintf("spec-p%d-%s", GinkgoParallelProcess(), randid.Hex(4))
}
