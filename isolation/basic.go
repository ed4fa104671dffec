package isolation

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/mockpy"
)

// BasicMode gives each spec a unique id and its own mock interpreter.
//
// Sets up: a spec id; a mockpy.Interpreter whose forbidden unhandled calls
// fail the spec. Tears down: closes the mock. Checks: every handler the spec
// appended was consumed (a sequence never used up is a spec that did less
// than it says).
type BasicMode struct {
	id   string
	mock *mockpy.Interpreter
}

// Basic registers the basic mode in the current container.
func Basic(opts ...mockpy.Option) *BasicMode {
	m := &BasicMode{}
	BeforeEach(func() {
		m.id = NewSpecID()
		m.mock = mockpy.New(append([]mockpy.Option{mockpy.WithFailHandler(Fail), mockpy.WithWorkerID(m.id)}, opts...)...)
		DeferCleanup(func() {
			defer m.mock.Close()
			Expect(m.mock).To(mockpy.HaveConsumedAllHandlers(), "basic isolation: appended handlers never used")
		})
	})
	return m
}

// ID returns the running spec's id.
func (m *BasicMode) ID() string { return m.id }

// Mock returns the running spec's mock interpreter.
func (m *BasicMode) Mock() *mockpy.Interpreter { return m.mock }
