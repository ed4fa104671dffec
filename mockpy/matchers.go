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
// (objects as map[string]any, integers as int, other numbers as float64: see
// Call.Decode), against a Gomega matcher, or against a value by JSON
// equality.
func WithArgs(expected any) ReceivedOption {
	return func(r *receivedMatcher) {
		if m, ok := expected.(types.GomegaMatcher); ok {
			r.args = m
			return
		}
		want := mustMarshal(expected)
		r.args = gomega.WithTransform(func(c Call) bool { return jsonEqual(c.Args, want) }, gomega.BeTrue())
		r.argsByCall = true
		r.argsDesc = fmt.Sprintf("args equal to %s", want)
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
// Its failure names the matcher the args had to meet, in the matcher's own
// words, each call of method and why its args did not, and every call.
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
	misses  []string // per call of method whose args did not match: why
}

func (r *receivedMatcher) Match(actual any) (bool, error) {
	m, ok := actual.(*Interpreter)
	if !ok {
		return false, fmt.Errorf("HaveReceived expects a *mockpy.Interpreter, got %s", format.Object(actual, 1))
	}
	r.calls = m.Calls()
	r.matched = 0
	r.misses = nil
	for _, c := range r.calls {
		if c.Method != r.method {
			continue
		}
		if r.session != nil && c.Session != *r.session {
			r.misses = append(r.misses, fmt.Sprintf("%s: in session %q, not %q", c, c.Session, *r.session))
			continue
		}
		if r.args != nil {
			var subject any = c.Value()
			if r.argsByCall {
				subject = c
			}
			ok, err := r.args.Match(subject)
			switch {
			case err != nil:
				r.misses = append(r.misses, fmt.Sprintf("%s: the matcher could not read its args: %v", c, err))
				continue
			case !ok:
				why := "its args are not " + r.argsDesc
				if !r.argsByCall {
					why = "its args did not satisfy the matcher:\n" + format.IndentString(strings.TrimSpace(r.args.FailureMessage(subject)), 1)
				}
				r.misses = append(r.misses, fmt.Sprintf("%s: %s", c, why))
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

// argsPlaceholder stands for the args in the matcher's description: the
// part of a Gomega failure message before it is the actual value, which
// describe cuts.
const argsPlaceholder = "\x00mockpy-args\x00"

// matcherDescription is what a Gomega matcher expects, in its own words:
// its failure message for a placeholder, without the placeholder's lines,
// and its name (HaveKeyWithValue for *matchers.HaveKeyWithValueMatcher).
func matcherDescription(m types.GomegaMatcher) string {
	name := fmt.Sprintf("%T", m)
	if i := strings.LastIndex(name, "."); i >= 0 {
		name = name[i+1:]
	}
	name = strings.TrimSuffix(name, "Matcher")
	msg := strings.TrimSpace(m.FailureMessage(argsPlaceholder))
	lines := strings.Split(msg, "\n")
	var kept []string
	for _, line := range lines {
		if strings.Contains(line, argsPlaceholder) {
			continue
		}
		kept = append(kept, line)
	}
	if len(kept) > 0 && strings.TrimSpace(kept[0]) == "Expected" {
		kept = kept[1:]
	}
	return name + ": " + strings.TrimSpace(strings.Join(kept, "\n"))
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
		fmt.Fprintf(&b, " with args that satisfy\n%s", format.IndentString(matcherDescription(r.args), 1))
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
	var b strings.Builder
	fmt.Fprintf(&b, "it received %d matching call(s)", r.matched)
	if len(r.misses) > 0 {
		fmt.Fprintf(&b, "; the calls of %q that did not match:", r.method)
		for _, miss := range r.misses {
			b.WriteString("\n" + format.IndentString(miss, 1))
		}
	}
	b.WriteString("\n")
	b.WriteString(describeCalls(r.calls))
	return b.String()
}

func (r *receivedMatcher) FailureMessage(any) string {
	return fmt.Sprintf("Expected the mock interpreter to have received %s\nbut %s", r.describe(), r.received())
}

func (r *receivedMatcher) NegatedFailureMessage(any) string {
	return fmt.Sprintf("Expected the mock interpreter not to have received %s\nbut %s", r.describe(), r.received())
}

// HaveConsumedAllHandlers succeeds when every appended handler answered a
// call: a sequence that was never used up is a spec that did less than it
// says. The failure names how many were appended and used, where the unused
// ones were appended, and the calls that came (see UnusedHandlersError).
func HaveConsumedAllHandlers() types.GomegaMatcher { return &consumedMatcher{} }

type consumedMatcher struct{ err error }

func (c *consumedMatcher) Match(actual any) (bool, error) {
	m, ok := actual.(*Interpreter)
	if !ok {
		return false, fmt.Errorf("HaveConsumedAllHandlers expects a *mockpy.Interpreter, got %s", format.Object(actual, 1))
	}
	c.err = m.unusedHandlers()
	return c.err == nil, nil
}

func (c *consumedMatcher) FailureMessage(any) string {
	if c.err == nil {
		return "Expected the mock interpreter to have used every appended handler"
	}
	return "Expected the mock interpreter to have used every appended handler, but\n" + c.err.Error()
}

func (c *consumedMatcher) NegatedFailureMessage(any) string {
	return "Expected the mock interpreter to have an appended handler left unused, but every one answered a call"
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
