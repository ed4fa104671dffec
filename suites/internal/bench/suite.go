// Package bench holds the specs of internal/benchkit, the measurements
// behind `pyharness bench`: the reference rows (pyharness beside an os/exec
// NDJSON loop and a bare floor), the generated Numbers table, and the
// reference subjects on real Python.
package bench

import "github.com/pyharness/pyharness/suites/internal/suite"

func describe(text string, args ...any) bool {
	return suite.Describe("bench", nil, text, args...)
}
