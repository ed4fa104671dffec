// Package unit holds the specs of pyharness's internal packages that need
// no test binary of their own (apisurface, failfmt, ownership, pytree,
// selection, stacks), of harness/containerbackend's logger and of
// isolation/leak's diffs and reports, as external specs: they use only the
// packages' exported identifiers.
package unit

import (
	"github.com/pyharness/pyharness/suites/internal/suite"
)

func describe(text string, args ...any) bool {
	return suite.Describe("unit", nil, text, args...)
}
