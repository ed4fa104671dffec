package mockpy

import (
	"fmt"
	"strings"

	"github.com/onsi/gomega"
	"github.com/onsi/gomega/format"
	"github.com/onsi/gomega/types"
)

// ReceivedOption narrows HaveReceived.
type ReceivedOption func(*receivedMatcher)

// WithArgs matches the call's args, decoded as a Python handler sees them
// (objects as map[string]any, numbers as json.Number), against a Gomega
// matcher, or against a value by JSON equality.
func WithArgs(expected any) ReceivedOption {
	return func(r *receivedMatcher) {
		if m, ok := expected.(types.GomegaMatcher); ok {
			r.args = m
			return
		}
		r.args = gomega.WithTransform(func(c Call) bool { return jsonEqual(c.Args, mustMarshal(expected)) }, gomega.BeTrue())
		r.argsByCall = true
		r.argsDesc = fmt.Sprintf("args equal to %s", mustMarshal(expected))
	}
}

// WithSession matches calls carrying session.
func WithSession(session string) ReceivedOption {
	return func(r *receivedMatcher) { r.session = &session }
}

// Times requires exactly n matching calls (by default: at least one).
func Times(n int) ReceivedOption { return func(r *receivedMatcher) { r.times = &n } }

// HaveReceived succeeds when the mock received a call of method that meets
// the options: Expect(py).To(HaveReceived("predict", WithArgs(HaveKey("text")), Times(2))).
func HaveReceived(method string, opts ...ReceivedOption) types.GomegaMatcher {
	r := &receivedMatcher{method: method}
	for _, opt := range opts {
		opt(r)
	}
	return r
}

type receivedMatcher struct {
	method     string
	args       types.GomegaMatcher
	argsByCall bool
	argsDesc   string
	session    *string
	times      *int

	matched int
	calls   []Call
}

func (r *receivedMatcher) Match(actual any) (bool, error) {
	m, ok := actual.(*Interpreter)
	if !ok {
		return false, fmt.Errorf("HaveReceived expects a *mockpy.Interpreter, got %s", format.Object(actual, 1))
	}
	r.calls = m.Calls()
	r.matched = 0
	for _, c := range r.calls {
		if c.Method != r.method || (r.session != nil && c.Session != *r.session) {
			continue
		}
		if r.args != nil {
			var subject any = c.Value()
			if r.argsByCall {
				subject = c
			}
			ok, err := r.args.Match(subject)
			if err != nil {
				return false, err
			}
			if !ok {
				continue
			}
		}
		r.matched++
	}
	if r.times != nil {
		return r.matched == *r.times, nil
	}
	return r.matched > 0, nil
}

func (r *receivedMatcher) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "a call of %q", r.method)
	if r.session != nil {
		fmt.Fprintf(&b, " in session %q", *r.session)
	}
	switch {
	case r.argsDesc != "":
		fmt.Fprintf(&b, " with %s", r.argsDesc)
	case r.args != nil:
		fmt.Fprintf(&b, " with args that satisfy\n%s", format.IndentString(strings.TrimSpace(r.args.FailureMessage("<args>")), 1))
	}
	if r.times != nil {
		fmt.Fprintf(&b, "\nexactly %d time(s)", *r.times)
	}
	return b.String()
}

func (r *receivedMatcher) received() string {
	if len(r.calls) == 0 {
		return "it received no calls at all"
	}
	lines := make([]string, len(r.calls))
	for i, c := range r.calls {
		lines[i] = "    " + c.String()
	}
	return fmt.Sprintf("it received %d matching call(s); all calls, in order:\n%s", r.matched, strings.Join(lines, "\n"))
}

func (r *receivedMatcher) FailureMessage(any) string {
	return fmt.Sprintf("Expected the mock interpreter to have received %s\nbut %s", r.describe(), r.received())
}

func (r *receivedMatcher) NegatedFailureMessage(any) string {
	return fmt.Sprintf("Expected the mock interpreter not to have received %s\nbut %s", r.describe(), r.received())
}

// HaveConsumedAllHandlers succeeds when every appended handler answered a
// call: a sequence that was never used up is a spec that did less than it says.
func HaveConsumedAllHandlers() types.GomegaMatcher {
	return gomega.WithTransform(func(m *Interpreter) int { return m.Unconsumed() },
		gomega.BeZero()).(types.GomegaMatcher)
}

// HaveNoUnhandledCalls succeeds when every call found a handler.
func HaveNoUnhandledCalls() types.GomegaMatcher {
	return gomega.WithTransform(func(m *Interpreter) []string {
		var out []string
		for _, c := range m.UnhandledCalls() {
			out = append(out, c.String())
		}
		return out
	}, gomega.BeEmpty())
}

// HaveNoMismatches succeeds when no call was refused by VerifyMethod or
// VerifyArgs; the failure lists the refused calls.
func HaveNoMismatches() types.GomegaMatcher {
	return gomega.WithTransform(func(m *Interpreter) []string {
		var out []string
		for _, e := range m.Mismatches() {
			out = append(out, e.Error())
		}
		return out
	}, gomega.BeEmpty())
}

func mustMarshal(v any) []byte {
	raw, err := jsonMarshal(v)
	if err != nil {
		return []byte(fmt.Sprintf("%q", err.Error()))
	}
	return raw
}

// HaveCalledGo succeeds when a handler of the mock called the Go function
// name (CallGo), whatever the answer: Expect(py).To(HaveCalledGo("lexicon")).
func HaveCalledGo(name string) types.GomegaMatcher {
	return gomega.WithTransform(func(m *Interpreter) []string {
		var names []string
		for _, c := range m.Calls() {
			for _, cb := range c.Callbacks {
				names = append(names, cb.Name)
			}
		}
		return names
	}, gomega.ContainElement(name))
}

// HaveStreamed succeeds when the mock served a stream call of method whose
// caller took items matching items (a number, or a Gomega matcher such as
// BeNumerically(">", 2)): Expect(py).To(HaveStreamed("explain", 3)).
func HaveStreamed(method string, items any) types.GomegaMatcher {
	m, ok := items.(types.GomegaMatcher)
	if !ok {
		m = gomega.Equal(items)
	}
	return gomega.WithTransform(func(py *Interpreter) []int {
		var taken []int
		for _, c := range py.CallsTo(method) {
			if c.Stream {
				taken = append(taken, c.Items)
			}
		}
		return taken
	}, gomega.ContainElement(m))
}
