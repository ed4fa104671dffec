package mockpy

import (
	"fmt"
	"path/filepath"
	"strings"

	_ "github.com/pyharness/pyharness/internal/failfmt" // Gomega prints the library's errors readably
	"github.com/pyharness/pyharness/internal/mockhook"
)

func init() {
	mockhook.WithHelper = func(h interface{ Helper() }) any {
		return Option(func(m *Interpreter) { m.helper = h })
	}
}

// UnusedHandlersError says that handlers were appended (AppendHandlers) and
// never used: the test did less than it says. It names the counts, where
// each unused handler was appended, and the calls that came.
type UnusedHandlersError struct {
	Appended, Used int
	// Sites are the user's lines (full path:line) that appended the unused
	// handlers, in order; "" when not known.
	Sites []string
	// Calls are the calls the mock received, in order.
	Calls []Call
}

func (e *UnusedHandlersError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "mockpy: appended handlers never used: %d appended, %d used", e.Appended, e.Used)
	for i, site := range e.Sites {
		fmt.Fprintf(&b, "\n    unused: handler %d", e.Used+i+1)
		if site != "" {
			fmt.Fprintf(&b, ", appended at %s", filepath.Base(site))
		}
	}
	b.WriteString("\n")
	b.WriteString(describeCalls(e.Calls))
	return b.String()
}

// describeCalls lists calls, in order, with what answered each and the
// user's line that made it.
func describeCalls(calls []Call) string {
	if len(calls) == 0 {
		return "calls received: none"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "calls received (%d), in order:", len(calls))
	const most = 20
	for i, c := range calls {
		if i == most {
			fmt.Fprintf(&b, "\n    ... and %d more", len(calls)-most)
			break
		}
		fmt.Fprintf(&b, "\n    %s", c)
		switch {
		case !c.Handled:
			b.WriteString(" -> unhandled")
		case c.by != "":
			b.WriteString(" -> " + c.by)
		}
		if where := c.where(); where != "" {
			b.WriteString(", called at " + where)
		}
	}
	return b.String()
}

// VerifyConsumed returns an *UnusedHandlersError when an appended handler
// answered no call, unless the mock was made WithUnusedHandlersAllowed;
// gotest.Mock and isolation.Basic call it when the test ends.
func (m *Interpreter) VerifyConsumed() error {
	m.mu.Lock()
	allowed := m.allowUnused
	m.mu.Unlock()
	if allowed {
		return nil
	}
	return m.unusedHandlers()
}

// unusedHandlers is VerifyConsumed's check, whatever the option.
func (m *Interpreter) unusedHandlers() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.next >= len(m.sequence) {
		return nil
	}
	return &UnusedHandlersError{
		Appended: len(m.sequence), Used: m.next,
		Sites: append([]string(nil), m.appendSites[m.next:]...),
		Calls: m.calls.all(),
	}
}

// GomegaString shows a call in Gomega's failure messages as the call it
// was (args as JSON, not as bytes), what answered it and the user's line.
func (c Call) GomegaString() string {
	s := c.String()
	switch {
	case !c.Handled:
		s += " -> unhandled"
	case c.by != "":
		s += " -> " + c.by
	}
	return s + at(c.where())
}

// GomegaString shows the mock in Gomega's failure messages by its id and
// the calls it received, not as a struct dump.
func (m *Interpreter) GomegaString() string {
	m.mu.Lock()
	id := m.id
	m.mu.Unlock()
	return fmt.Sprintf("mock interpreter %q; %s", id, describeCalls(m.Calls()))
}
