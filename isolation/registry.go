package isolation

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness"
	"github.com/pyharness/pyharness/realpy"
)

// RegistryMode gives each spec a namespace: names and session ids that carry
// the spec id, so specs sharing an interpreter cannot collide.
//
// Sets up: a spec id. Tears down and checks: every name registered with
// Register was released, and no Python session carrying the spec id still
// holds state in the interpreter (reset it), on every worker of a pool.
type RegistryMode struct {
	id     string
	target func() pyharness.Caller
	mu     sync.Mutex
	names  map[string]bool
}

// Registry registers the registry mode; target returns the interpreter the
// specs share (nil for a Go-only namespace).
func Registry(target func() pyharness.Caller) *RegistryMode {
	m := &RegistryMode{target: target}
	BeforeEach(func() {
		m.id = NewSpecID()
		m.names = map[string]bool{}
		DeferCleanup(func(ctx SpecContext) {
			m.mu.Lock()
			var left []string
			for name := range m.names {
				left = append(left, name)
			}
			m.mu.Unlock()
			slices.Sort(left)
			Expect(left).To(BeEmpty(), "registry isolation: names of this spec still registered")
			if m.target == nil {
				return
			}
			sessions, err := SessionsOf(ctx, m.target())
			Expect(err).NotTo(HaveOccurred())
			var mine []string
			for _, s := range sessions {
				if strings.Contains(s, m.id) {
					mine = append(mine, s)
				}
			}
			Expect(mine).To(BeEmpty(), "registry isolation: Python sessions of this spec still hold state. "+
				"Clear them before the spec ends: mode.Reset(ctx, base) for a session made with mode.Session(ctx, base), "+
				`or the reset built-in on each worker that served it, py.Call(ctx, "reset", map[string]string{"session": id}, nil) (PROTOCOL.md, Built-in methods)`)
		}, NodeTimeout(time.Minute))
	})
	return m
}

// ID returns the running spec's id.
func (m *RegistryMode) ID() string { return m.id }

// Name returns base namespaced by the spec id.
func (m *RegistryMode) Name(base string) string { return base + "." + m.id }

// Session returns a context whose calls carry a session id namespaced by the spec id.
func (m *RegistryMode) Session(ctx context.Context, base string) context.Context {
	return withSession(ctx, m.Name(base))
}

// Register records name as held by the spec until Release.
func (m *RegistryMode) Register(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.names[name] = true
}

// Release records that name is no longer held.
func (m *RegistryMode) Release(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.names, name)
}

// Reset clears the state of the session mode.Session(ctx, base) names, on
// every worker of the target (the reset built-in), as the spec's teardown
// requires.
func (m *RegistryMode) Reset(ctx context.Context, base string) error {
	if m.target == nil {
		return nil
	}
	for _, c := range callersOf(m.target()) {
		if err := c.Call(ctx, "reset", map[string]string{"session": m.Name(base)}, nil); err != nil {
			return err
		}
	}
	return nil
}

// callersOf returns the workers of a pool, or target itself.
func callersOf(target pyharness.Caller) []pyharness.Caller {
	p, ok := target.(interface{ Workers() []*realpy.Worker })
	if !ok {
		return []pyharness.Caller{target}
	}
	var callers []pyharness.Caller
	for _, w := range p.Workers() {
		callers = append(callers, w)
	}
	return callers
}

// SessionsOf returns the Python sessions holding state in an interpreter:
// for a pool, on each of its workers.
func SessionsOf(ctx context.Context, target pyharness.Caller) ([]string, error) {
	var all []string
	for _, c := range callersOf(target) {
		var info struct {
			Sessions []string `json:"sessions"`
		}
		if err := c.Call(ctx, "info", nil, &info); err != nil {
			return nil, err
		}
		all = append(all, info.Sessions...)
	}
	return all, nil
}
