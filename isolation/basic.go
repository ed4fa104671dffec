package isolation

import (
	. "github.com/onsi/ginkgo/v2"

	_ "github.com/pyharness/pyharness/internal/failfmt" // Gomega prints the library's errors readably
	"github.com/pyharness/pyharness/mockpy"
)

// BasicMode gives each spec a unique id and its own mock interpreter.
//
// Sets up: a spec id; a mockpy.Interpreter whose forbidden unhandled calls
// fail the spec at the spec's line. Tears down: closes the mock. Checks:
// every handler the spec appended was used (a sequence never used up is a
// spec that did less than it says); a spec that has not failed otherwise
// fails at its It, naming the counts, where each unused handler was
// appended and the calls that came. mockpy.WithUnusedHandlersAllowed turns
// the check off.
type BasicMode struct {
	id   string
	mock *mockpy.Interpreter
}

// Basic registers the basic mode in the current container.
func Basic(opts ...mockpy.Option) *BasicMode {
	m := &BasicMode{}
	BeforeEach(func() {
		m.id = NewSpecID()
		mock := mockpy.New(append([]mockpy.Option{mockpy.WithFailHandler(Fail), mockpy.WithWorkerID(m.id)}, opts...)...)
		m.mock = mock
		// The check runs after the spec, with no line of the spec on the
		// stack: its failure is placed at the spec's It.
		DeferCleanup(func() error {
			defer mock.Close()
			if CurrentSpecReport().Failed() {
				return nil // the unused handlers follow from the failure already reported
			}
			if err := mock.VerifyConsumed(); err != nil {
				return &basicError{err: err}
			}
			return nil
		}, CurrentSpecReport().LeafNodeLocation)
	})
	return m
}

type basicError struct{ err error }

func (e *basicError) Error() string { return "basic isolation: " + e.err.Error() }
func (e *basicError) Unwrap() error { return e.err }

// ID returns the running spec's id.
func (m *BasicMode) ID() string { return m.id }

// Mock returns the running spec's mock interpreter.
func (m *BasicMode) Mock() *mockpy.Interpreter { return m.mock }
