// Pool: lazy growth (WithLazy): one worker up front, more started as calls
// queue, up to WithSize, a bounded number at a time.

package realpy

import (
	"context"
	"fmt"
	"runtime"
)

// LazyStartError says the worker a lazy pool (WithLazy) started for waiting
// calls failed to start. The first call waiting for it gets this error
// (Err, the start error: an import that fails, an interpreter that is not
// Python); the other waiting calls keep waiting for the workers the pool
// has, and the next call that finds none free starts another. It matches
// ErrPoolExhausted and whatever Err matches.
type LazyStartError struct {
	Size    int   // WithSize
	Workers int   // workers the pool had when the start failed
	Err     error // the start error
}

func (e *LazyStartError) Error() string {
	return fmt.Sprintf("realpy: the lazy pool (%d of %d workers) started a worker for this call, and the start failed: %v", e.Workers, e.Size, e.Err)
}

// Unwrap returns the start error.
func (e *LazyStartError) Unwrap() error { return e.Err }

// Is matches ErrPoolExhausted.
func (e *LazyStartError) Is(target error) bool { return target == ErrPoolExhausted }

// lazyStartLimit bounds how many workers a lazy pool starts at once: an
// interpreter's start is mostly imports, CPU-bound, so starting more than
// the machine runs at once only makes each of them later.
var lazyStartLimit = max(2, runtime.NumCPU()/2)

// slotsLocked counts the pool's workers within its size: alive or starting,
// overflow workers left out.
func (p *Pool) slotsLocked() int { return len(p.members) + p.starting - p.overflows }

// takesAnyLocked reports whether waiter w would take a worker the pool has
// not got yet: not a session bound to another live worker it waits for.
func (p *Pool) takesAnyLocked(w *waiter) bool {
	if w.session == "" {
		return true
	}
	r, ok := p.sessions.get(w.session)
	return !ok || r.m.w.Err() != nil || p.cfg.affinity != AffinityStrictQueue && !r.m.settling
}

// growLocked starts, in the background, a worker for each waiting call that
// a start in flight does not already cover, within the size and the bound
// on concurrent starts. Each new worker goes to the first waiter that may
// take it (offerLocked), not to the call that made it start: the queue's
// order holds while the pool grows.
func (p *Pool) growLocked() {
	if !p.cfg.lazy || p.closed {
		return
	}
	demand := 0
	for _, w := range p.queue {
		if p.takesAnyLocked(w) {
			demand++
		}
	}
	for p.growing < demand && p.growing < lazyStartLimit && p.slotsLocked() < p.cfg.size {
		p.growing++
		p.starting++
		p.bg.Add(1)
		go p.growOne()
	}
}

// growOne starts one worker for the queue, hands it to the first waiter
// that may take it (or keeps it idle), and grows on if calls still wait. A
// start that fails is the first such waiter's error.
func (p *Pool) growOne() {
	defer p.bg.Done()
	ctx, cancel := context.WithTimeout(p.grows, p.cfg.startTimeout)
	m, err := p.startMember(ctx, false)
	cancel()
	p.mu.Lock()
	p.starting--
	p.growing--
	if p.closed {
		if m != nil {
			m.retired = true // Close has taken the members: this one is ours to close
		}
		p.mu.Unlock()
		if m != nil {
			_ = m.w.Close()
		}
		return
	}
	if err != nil {
		for _, w := range p.queue {
			if p.takesAnyLocked(w) {
				p.dequeueLocked(w)
				w.failed = &LazyStartError{Size: p.cfg.size, Workers: len(p.members), Err: err}
				select {
				case w.wake <- struct{}{}:
				default:
				}
				break
			}
		}
		p.notifyLocked() // the others look again: with no worker alive and none starting, none is coming
		p.mu.Unlock()
		return
	}
	p.members[m] = struct{}{}
	p.offerLocked(m)
	p.growLocked()
	p.mu.Unlock()
}
