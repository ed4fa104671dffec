package isolation

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness"
	"github.com/pyharness/pyharness/isolation/leak"
	"github.com/pyharness/pyharness/mockpy"
	"github.com/pyharness/pyharness/realpy"
)

// NewSpecID returns an id unique across specs and parallel processes.
func NewSpecID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("spec-p%d-%s", GinkgoParallelProcess(), hex.EncodeToString(b[:]))
}

// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------

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
			Expect(mine).To(BeEmpty(), "registry isolation: Python sessions of this spec still hold state; call reset")
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

// SessionsOf returns the Python sessions holding state in an interpreter:
// for a pool, on each of its workers.
func SessionsOf(ctx context.Context, target pyharness.Caller) ([]string, error) {
	callers := []pyharness.Caller{target}
	if p, ok := target.(interface{ Workers() []*realpy.Worker }); ok {
		callers = callers[:0]
		for _, w := range p.Workers() {
			callers = append(callers, w)
		}
	}
	var all []string
	for _, c := range callers {
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

// ---------------------------------------------------------------------------

// SignalMode is a per-spec event bus for a pool's lifecycle events.
//
// Sets up: a subscription opened when the spec starts. Routes: only events
// of workers the spec watches (Watch) and of the workers that replace them,
// so events caused by other specs never reach it. Tears down: closes it.
type SignalMode struct {
	pool    func() *realpy.Pool
	sub     *realpy.Subscription
	mu      sync.Mutex
	watched map[string]bool
	events  chan realpy.Event
	done    chan struct{}
}

// SignalRouting registers the signal-routing mode for the pool pool returns.
func SignalRouting(pool func() *realpy.Pool) *SignalMode {
	m := &SignalMode{pool: pool}
	BeforeEach(func() {
		m.watched = map[string]bool{}
		m.events = make(chan realpy.Event, 1024)
		m.done = make(chan struct{})
		m.sub = m.pool().Subscribe()
		go m.route(m.sub, m.events, m.done)
		DeferCleanup(func() {
			m.sub.Close()
			<-m.done
		})
	})
	return m
}

func (m *SignalMode) route(sub *realpy.Subscription, out chan<- realpy.Event, done chan struct{}) {
	defer close(done)
	for e := range sub.C {
		m.mu.Lock()
		mine := m.watched[e.WorkerID] || (e.Replaces != "" && m.watched[e.Replaces])
		if mine && e.Replaces != "" && e.WorkerID != "" {
			m.watched[e.WorkerID] = true // follow the replacement
		}
		m.mu.Unlock()
		if mine {
			select {
			case out <- e:
			default: // a spec that never reads its events does not block routing
			}
		}
	}
}

// Watch routes the events of w (and of its replacements) to this spec.
func (m *SignalMode) Watch(w *realpy.Worker) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.watched[w.ID()] = true
}

// Events delivers this spec's events.
func (m *SignalMode) Events() <-chan realpy.Event { return m.events }

// Next waits for this spec's next event of kind; its time-out is an error.
func (m *SignalMode) Next(ctx context.Context, kind realpy.EventKind) (realpy.Event, error) {
	for {
		select {
		case e := <-m.events:
			if e.Kind == kind {
				return e, nil
			}
		case <-ctx.Done():
			return realpy.Event{}, fmt.Errorf("isolation: no %s event for this spec: %w", kind, ctx.Err())
		}
	}
}

// ---------------------------------------------------------------------------

// FullMode gives each spec a brand-new private worker.
//
// Sets up: pool.Fresh (a fork from the zygote, or a spawn). Tears down:
// closes it; on failure, attaches its stderr tail to the report. Checks: the
// process is gone.
type FullMode struct {
	pool   func() *realpy.Pool
	worker *realpy.Worker
}

// FullIsolation registers the full-isolation mode.
func FullIsolation(pool func() *realpy.Pool) *FullMode {
	m := &FullMode{pool: pool}
	BeforeEach(func(ctx SpecContext) {
		w, err := m.pool().Fresh(ctx)
		Expect(err).NotTo(HaveOccurred())
		m.worker = w
		DeferCleanup(func() {
			Expect(w.Close()).To(Succeed())
			Expect(w.Exited()).To(BeClosed(), "full isolation: the spec's worker outlived it")
		})
		ReportWorkerOnFailure(w)
	}, NodeTimeout(time.Minute))
	return m
}

// Worker returns the running spec's private worker.
func (m *FullMode) Worker() *realpy.Worker { return m.worker }

// ReportWorkerOnFailure attaches w's stderr tail to the spec's report when
// the spec fails. Call it after the DeferCleanup that closes w, so it runs first.
func ReportWorkerOnFailure(w *realpy.Worker) {
	DeferCleanup(func() {
		if !CurrentSpecReport().Failed() {
			return
		}
		tail := strings.TrimSpace(string(w.Stderr().Contents()))
		if len(tail) > 4000 {
			tail = "..." + tail[len(tail)-4000:]
		}
		if tail != "" {
			AddReportEntry(fmt.Sprintf("stderr of worker %s (pid %d)", w.ID(), w.Pid()), tail, ReportEntryVisibilityFailureOrVerbose)
		}
	})
}

// ---------------------------------------------------------------------------

// ContaminationMode snapshots everything a spec could leave behind, before
// and after it, and fails the spec with a readable diff of what changed:
// goroutines (goleak), processes started through pyharness, open file
// descriptors, files in the spec's temp dir, environment variables, and the
// worker's Python state (new sys.modules entries, changed module globals).
//
// Sets up: a private TMPDIR for the spec (so parallel specs cannot pollute
// each other's temp dir) and the first snapshot. Tears down: restores TMPDIR.
type ContaminationMode struct {
	worker func() pyharness.Caller
	opts   []leak.SnapshotOption
}

// ContaminationDetection registers the mode; worker returns the Python
// worker to watch (nil: Go-side checks only).
func ContaminationDetection(worker func() pyharness.Caller, opts ...leak.SnapshotOption) *ContaminationMode {
	m := &ContaminationMode{worker: worker, opts: opts}
	BeforeEach(func(ctx SpecContext) {
		tmp, err := os.MkdirTemp("", "pyharness-spec-")
		Expect(err).NotTo(HaveOccurred())
		old, had := os.LookupEnv("TMPDIR")
		opts := append([]leak.SnapshotOption{leak.WithTempDirs(tmp), leak.IgnoreEnv("TMPDIR"), leak.IgnoreGoroutines(leak.IgnoreGinkgo()...)}, m.opts...)
		if m.worker != nil {
			if w := m.worker(); w != nil {
				opts = append(opts, leak.WithPython(w))
			}
		}
		before, err := leak.Take(ctx, opts...)
		Expect(err).NotTo(HaveOccurred())
		Expect(os.Setenv("TMPDIR", tmp)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) {
			after, err := leak.Take(ctx, opts...)
			if had {
				os.Setenv("TMPDIR", old)
			} else {
				os.Unsetenv("TMPDIR")
			}
			defer os.RemoveAll(tmp)
			Expect(err).NotTo(HaveOccurred())
			Expect(before.Diff(after).Err()).NotTo(HaveOccurred(), "contamination detection")
		}, NodeTimeout(time.Minute))
	}, NodeTimeout(time.Minute))
	return m
}

// ---------------------------------------------------------------------------

// SupervisionMode kills workers and waits for the pool to heal, on events.
//
// Sets up: a subscription to the pool's events. Tears down: closes it.
// WaitForRestart and BackToSize return an error when their context ends
// first: a restart that does not happen fails the spec, never silently.
type SupervisionMode struct {
	pool func() *realpy.Pool
	sub  *realpy.Subscription
	seen []realpy.Event
}

// SupervisionTesting registers the supervision mode.
func SupervisionTesting(pool func() *realpy.Pool) *SupervisionMode {
	m := &SupervisionMode{pool: pool}
	BeforeEach(func() {
		m.seen = nil
		m.sub = m.pool().Subscribe()
		DeferCleanup(func() { m.sub.Close() })
	})
	return m
}

// KillWorker kills w with SIGKILL, as a crash would, and returns its id.
func (m *SupervisionMode) KillWorker(w *realpy.Worker) string {
	GinkgoHelper()
	Expect(w.Kill()).To(Succeed())
	return w.ID()
}

// WaitForRestart waits for the worker that replaces oldID and returns its pid.
func (m *SupervisionMode) WaitForRestart(ctx context.Context, oldID string) (int, error) {
	for _, e := range m.seen {
		if e.Kind == realpy.EventReplaced && e.Replaces == oldID {
			return e.Pid, nil
		}
	}
	for {
		select {
		case e, ok := <-m.sub.C:
			if !ok {
				return 0, errors.New("isolation: the pool closed before worker " + oldID + " was replaced")
			}
			m.seen = append(m.seen, e)
			if e.Kind == realpy.EventReplaced && e.Replaces == oldID {
				return e.Pid, nil
			}
		case <-ctx.Done():
			return 0, fmt.Errorf("isolation: worker %s was not replaced: %w", oldID, ctx.Err())
		}
	}
}

// BackToSize waits until the pool has all its workers again.
func (m *SupervisionMode) BackToSize(ctx context.Context) error {
	p := m.pool()
	for p.Stats().Size < p.Size() {
		select {
		case e, ok := <-m.sub.C:
			if !ok {
				return errors.New("isolation: the pool closed before it was back to size")
			}
			m.seen = append(m.seen, e)
		case <-ctx.Done():
			return fmt.Errorf("isolation: pool has %d of %d workers: %w", p.Stats().Size, p.Size(), ctx.Err())
		}
	}
	return nil
}

// ---------------------------------------------------------------------------

// PoolMode gives an Ordered container a private pool.
//
// Sets up: StartPool in BeforeAll. Tears down: closes the pool after the
// container's last spec (DeferCleanup in BeforeAll), so specs of the
// container share it in order and no other container sees it.
type PoolMode struct {
	pool *realpy.Pool
}

// PoolTesting registers the pool-testing mode; call it in an Ordered container.
func PoolTesting(opts ...realpy.Option) *PoolMode {
	m := &PoolMode{}
	BeforeAll(func(ctx SpecContext) {
		p, err := realpy.StartPool(ctx, append([]realpy.Option{realpy.WithOutput(GinkgoWriter)}, opts...)...)
		DeferCleanup(func() {
			workers := p.Workers()
			Expect(p.Close()).To(Succeed())
			for _, w := range workers {
				Expect(w.Exited()).To(BeClosed(), "pool testing: a worker outlived its pool")
			}
		})
		Expect(err).NotTo(HaveOccurred())
		m.pool = p
	}, NodeTimeout(2*time.Minute))
	return m
}

// Pool returns the container's pool.
func (m *PoolMode) Pool() *realpy.Pool { return m.pool }
