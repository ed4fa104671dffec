package isolation

import (
	"github.com/onsi/ginkgo/v2/types"

	"github.com/pyharness/pyharness/internal/callsite"
)

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
