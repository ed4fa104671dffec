// Pool: forks that would hang (an unsafe zygote, a poisoned one) and the
// thread limits its workers run with.

package realpy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pyharness/pyharness/wire"
)

// suspectStrikes is how many forked workers in a row must hang or die on
// their first call for the pool to take the zygote for poisoned.
const suspectStrikes = 2

// forkState is a pool's part of fork safety.
type forkState struct {
	fallbacks atomic.Int64
	suspects  atomic.Int64

	mu         sync.Mutex
	unsafe     *ForkUnsafeError
	strikes    int
	lastStrike time.Time
	failures   []string // the strikes' failures, for the event
}

// addForkStats fills the fork fields of s.
func (p *Pool) addForkStats(s *PoolStats) {
	p.fork.mu.Lock()
	defer p.fork.mu.Unlock()
	s.ForkFallbacks, s.ForkSuspects = p.fork.fallbacks.Load(), p.fork.suspects.Load()
	if p.fork.unsafe != nil {
		s.ForkUnsafe = p.fork.unsafe.cause()
	}
}

// threadStats is what the pool's workers run with: for a pool attached to
// another process's zygote, what that zygote's starter set (known from the
// first fork on); else what the pool sets for its zygote or the workers it
// spawns.
func (p *Pool) threadStats() ThreadLimits {
	if p.spawned.Load() == 0 && p.forked.Load() == 0 {
		return ThreadLimits{} // nothing started yet (a lazy pool): no worker runs with anything
	}
	if z := p.Zygote(); z != nil && z.Attached() {
		return z.threadLimits()
	}
	cfg := p.cfg.procConfig
	cfg.fork.workers = p.cfg.size
	return cfg.threadLimits()
}

// watchSafety makes the pool say, once, that z cannot fork safely.
func (p *Pool) watchSafety(z *Zygote) {
	z.safety.onUnsafe = func(e *ForkUnsafeError) {
		p.fork.mu.Lock()
		first := p.fork.unsafe == nil
		p.fork.unsafe = e
		p.fork.mu.Unlock()
		if !first {
			return // a restarted zygote of the same pool: said already
		}
		warnLine(p.cfg.output, unsafeWarning(e, "this pool's workers"))
		p.events.publish(Event{Kind: EventForkUnsafe, WorkerID: z.ID(), Pid: z.Pid(), Cause: e})
	}
}

// forkedWorkerEnded notes how a forked member ended: one that hung or died
// on its first call is a strike against its zygote; suspectStrikes in a
// row (no forked worker answering a call in between) mark it suspect.
func (p *Pool) forkedWorkerEnded(m *member) {
	fp, ok := m.w.proc.(*forkedProcess)
	if !ok || fp.spawned {
		return
	}
	answered, failed := m.w.first.state()
	p.fork.mu.Lock()
	if !answered.IsZero() || failed == "" {
		if !answered.IsZero() {
			p.fork.strikes, p.fork.failures = 0, nil
		}
		p.fork.mu.Unlock()
		return
	}
	if p.fork.strikes > 0 && p.answeredSince(p.fork.lastStrike) {
		p.fork.strikes, p.fork.failures = 0, nil
	}
	p.fork.strikes++
	p.fork.lastStrike = time.Now()
	p.fork.failures = append(p.fork.failures, fmt.Sprintf("%s on %s: %v", m.w.ID(), failed, m.w.exitError()))
	if p.fork.strikes < suspectStrikes {
		p.fork.mu.Unlock()
		return
	}
	failures := p.fork.failures
	p.fork.strikes, p.fork.failures = 0, nil
	p.fork.mu.Unlock()
	z := fp.z
	z.markSuspect()
	p.fork.suspects.Add(1)
	cause := fmt.Errorf("realpy: zygote %s is suspect: %d workers forked from it in a row hung or died on their first call (%s); "+
		"what it imported poisons its forks (threads a forked child misses, such as an OpenMP team): the pool spawns its workers instead",
		z.ID(), len(failures), strings.Join(failures, "; "))
	warnLine(p.cfg.output, "pyharness: warning: "+strings.TrimPrefix(cause.Error(), "realpy: ")+" (docs/scientific-python.md)")
	p.events.publish(Event{Kind: EventZygoteSuspect, WorkerID: z.ID(), Pid: z.Pid(), Cause: cause})
}

// answeredSince reports whether a live member answered its first call after t.
func (p *Pool) answeredSince(t time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for m := range p.members {
		if a, _ := m.w.first.state(); a.After(t) {
			return true
		}
	}
	return false
}

// firstCalls records how a worker's first calls went: when it first
// answered one, or the method it failed on before that (it died, or hung
// past its call's deadline).
type firstCalls struct {
	mu       sync.Mutex
	answered time.Time
	failed   string
}

func (f *firstCalls) note(method string, err error) {
	if err == nil { // the common case, apart: noteError's errors.As allocates
		f.mu.Lock()
		if f.answered.IsZero() {
			f.answered = time.Now()
		}
		f.mu.Unlock()
		return
	}
	f.noteError(method, err)
}

func (f *firstCalls) noteError(method string, err error) {
	var pe *wire.PythonError
	answered := err == nil || errors.As(err, &pe)
	lost := errors.Is(err, wire.ErrWorkerExited) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case !f.answered.IsZero():
	case answered:
		f.answered = time.Now()
	case lost && f.failed == "" && !builtinMethod(method):
		f.failed = method
	}
}

func (f *firstCalls) state() (time.Time, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.answered, f.failed
}

// builtinMethod reports whether method is one of the worker's own
// (PROTOCOL.md): a fault a spec injects on purpose says nothing of the zygote.
func builtinMethod(method string) bool {
	switch method {
	case "ping", "info", "reset", "state", "shutdown", "imports", "echo", "sleep", "fail", "crash", "hang", "print", "garbage", "big":
		return true
	}
	return strings.HasPrefix(method, "$")
}
