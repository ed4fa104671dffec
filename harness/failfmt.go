package harness

// Gomega prints the library's errors readably: a Python error as its type,
// message and traceback lines, with no struct dump.
import _ "github.com/pyharness/pyharness/internal/failfmt"
