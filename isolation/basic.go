package isolation

import (
	"fmt"
	"strings"

	. "github.com/onsi/ginkgo/v2"

	_ "github.com/pyharness/pyharness/internal/failfmt" // Gomega prints the library's errors readably
	"github.com/pyharness/pyharness/internal/ownership"
	"github.com/pyharness/pyharness/isolation/leak"
	"github.com/pyharness/pyharness/mockpy"
)

// BasicMode gives each spec a unique id and its own mock interpreter.
//
// Sets up: a spec id; a mockpy.Interpreter whose forbidden unhandled calls
// fail the spec at the spec's line. Tears down: closes the mock. Checks:
// no call is still in flight on the mock when the spec ends (given a
// second to end: the failure names each call's method and the line that
// made it); every handler the spec appended was used (a sequence never used up is a
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
		calls := ownership.CallSeq()
		// The check runs after the spec, with no line of the spec on the
		// stack: its failure is placed at the spec's It.
		DeferCleanup(func() error {
			defer mock.Close()
			if CurrentSpecReport().Failed() {
				return nil // the unused handlers and calls left follow from the failure already reported
			}
			if left := ownership.WaitCallsOn(calls, ownership.CallGrace, "", mock.Pid()); len(left) > 0 {
				return &basicError{err: inFlightError(left)}
			}
			if err := mock.VerifyConsumed(); err != nil {
				return &basicError{err: err}
			}
			return nil
		}, CurrentSpecReport().LeafNodeLocation)
	})
	return m
}

// inFlightError names the calls a spec left in flight on its mock.
func inFlightError(calls []ownership.Call) error {
	lines := make([]string, len(calls))
	for i, c := range calls {
		lines[i] = leak.Leak{Kind: leak.KindCall, ID: c.Worker, Pid: c.Pid, Method: c.Method, Site: c.Site, Func: c.Func}.String()
	}
	return fmt.Errorf("the spec ended with %d call(s) still in flight on its mock:\n  %s", len(calls), strings.Join(lines, "\n  "))
}

type basicError struct{ err error }

func (e *basicError) Error() string { return "basic isolation: " + e.err.Error() }
func (e *basicError) Unwrap() error { return e.err }

// ID returns the running spec's id.
func (m *BasicMode) ID() string { return m.id }

// Mock returns the running spec's mock interpreter.
func (m *BasicMode) Mock() *mockpy.Interpreter { return m.mock }
