// Pool: healing: starting members and the zygote, watching them, replacing the dead, heartbeats.

package realpy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/pyharness/pyharness/internal/ownership"
)

func (p *Pool) startZygote(ctx context.Context) error {
	ctx = ownership.WithOwner(ctx, p.own) // the pool's, not its caller's
	var z *Zygote
	var err error
	cfg := p.cfg.procConfig
	cfg.fork.workers = p.cfg.size // the zygote's thread limits, set before it imports anything
	if p.cfg.zygoteAddr != "" {
		z, err = attachZygote(ctx, p.cfg.zygoteAddr, &cfg)
	} else {
		z, err = startZygote(ctx, &cfg)
	}
	if err != nil {
		return err
	}
	p.watchSafety(z)
	if !z.Attached() {
		p.spawned.Add(1)
	}
	p.zmu.Lock()
	p.zygote = z
	p.zmu.Unlock()
	p.bg.Add(1)
	go p.watchZygote(z)
	return nil
}

// watchZygote restarts the zygote when it dies while the pool is open.
func (p *Pool) watchZygote(z *Zygote) {
	defer p.bg.Done()
	select {
	case <-z.Exited():
	case <-p.closing:
		return
	}
	_ = z.Close()
	select {
	case <-p.closing:
		return
	default:
	}
	if z.Attached() {
		p.events.publish(Event{Kind: EventZygote, WorkerID: z.ID(), Pid: z.Pid(),
			Cause: fmt.Errorf("realpy: the zygote at %s, owned by another process, is gone", p.cfg.zygoteAddr)})
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.startTimeout)
	defer cancel()
	err := p.startZygote(ctx)
	p.events.publish(Event{Kind: EventZygote, WorkerID: z.ID(), Pid: z.Pid(), Cause: err})
}

// newWorker starts one interpreter the pool's way: forked from the zygote,
// or spawned.
func (p *Pool) newWorker(ctx context.Context) (*Worker, error) {
	if p.cfg.strategy == ZygoteFork {
		p.zmu.Lock()
		z := p.zygote
		p.zmu.Unlock()
		if z == nil {
			return nil, errors.New("realpy: pool has no zygote")
		}
		w, err := z.Fork(ctx)
		if err == nil {
			if fp, ok := w.proc.(*forkedProcess); ok && fp.spawned {
				p.spawned.Add(1) // by the zygote, in place of a fork that would hang
				p.fork.fallbacks.Add(1)
			} else {
				p.forked.Add(1)
			}
			p.events.publish(Event{Kind: EventStarted, WorkerID: w.ID(), Pid: w.Pid()})
		}
		return w, err
	}
	cfg := p.cfg.procConfig // each worker gets the process settings, nothing of the pool's
	cfg.fork.workers = p.cfg.size
	cfg.onSpawn = func(pid int) {
		p.spawned.Add(1)
		p.events.publish(Event{Kind: EventStarted, Pid: pid})
	}
	return start(ctx, &cfg)
}

func (p *Pool) startMember(ctx context.Context, overflow bool) (*member, error) {
	w, err := p.newWorker(ownership.WithOwner(ctx, p.own)) // the pool's, not its caller's
	p.mu.Lock()
	if err != nil {
		p.startErr = err
		p.reports.poolChangedLocked() // callers waiting for a worker learn that none is coming yet
	} else {
		p.startErr = nil
	}
	p.mu.Unlock()
	if err != nil {
		return nil, err
	}
	p.events.publish(Event{Kind: EventReady, WorkerID: w.ID(), Pid: w.Pid()})
	m := &member{w: w, overflow: overflow, capacity: w.client.Capacity()}
	if p.cfg.pipelining && w.client.pipeline() {
		m.capacity, m.pipelined = 2, true
	}
	p.bg.Add(1)
	go p.watch(m)
	if p.cfg.heartbeat > 0 {
		p.bg.Add(1)
		go p.heartbeat(m)
	}
	return m, nil
}

// watch replaces a member that dies while the pool uses it.
func (p *Pool) watch(m *member) {
	defer p.bg.Done()
	<-m.w.Exited()
	p.mu.Lock()
	if m.retired || p.closed {
		p.mu.Unlock()
		return
	}
	delete(p.members, m)
	p.forgetLocked(m)
	if m.overflow {
		p.overflows--
		p.reports.poolChangedLocked()
		p.mu.Unlock()
		p.events.publish(Event{Kind: EventCrashed, WorkerID: m.w.ID(), Pid: m.w.Pid(), Cause: m.w.exitError()})
		return
	}
	p.starting++
	p.reports.poolChangedLocked()
	p.mu.Unlock()
	p.events.publish(Event{Kind: EventCrashed, WorkerID: m.w.ID(), Pid: m.w.Pid(), Cause: m.w.exitError()})
	p.forkedWorkerEnded(m) // a poisoned zygote: before the replacement is forked from it
	_ = m.w.Close()
	p.replace(m.w.ID())
}

// replace starts a worker in a crashed one's place, retrying with backoff
// while the pool is open.
func (p *Pool) replace(old string) {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval = 50*time.Millisecond, 5*time.Second
	for {
		// Not cancelled at once when the pool closes: a fork cut short
		// mid-handshake would leave a child nobody waits for. Close waits for
		// this start for a grace period, then cancels it (a zygote that does
		// not answer), and closes the new worker if it came.
		ctx, cancel := context.WithTimeout(p.starts, p.cfg.startTimeout)
		m, err := p.startMember(ctx, false)
		cancel()
		p.mu.Lock()
		if err == nil {
			p.starting--
			if p.closed {
				p.mu.Unlock()
				m.retired = true
				_ = m.w.Close()
				return
			}
			p.members[m] = struct{}{}
			p.reports.memberReadyLocked(m)
			p.mu.Unlock()
			p.events.publish(Event{Kind: EventReplaced, WorkerID: m.w.ID(), Pid: m.w.Pid(), Replaces: old})
			return
		}
		if p.closed {
			p.starting--
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		p.events.publish(Event{Kind: EventCrashed, Replaces: old, Cause: fmt.Errorf("replacement failed to start: %w", err)})
		timer := time.NewTimer(b.NextBackOff())
		select {
		case <-timer.C:
		case <-p.closing:
			timer.Stop()
			p.mu.Lock()
			p.starting--
			p.mu.Unlock()
			return
		}
	}
}

// heartbeat kills a worker that misses WithHeartbeat's threshold of probes
// in a row: a worker stuck in a handler answers none.
func (p *Pool) heartbeat(m *member) {
	defer p.bg.Done()
	ticker := time.NewTicker(p.cfg.heartbeat)
	defer ticker.Stop()
	missed := 0
	for {
		select {
		case <-ticker.C:
		case <-m.w.Exited():
			return
		case <-p.closing:
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), p.cfg.heartbeat)
		err := m.w.Probe(ctx)
		cancel()
		switch {
		case err == nil:
			missed = 0
		case errors.Is(err, context.DeadlineExceeded):
			missed++
			if missed >= p.cfg.heartbeatMisses {
				m.w.KillFor(fmt.Sprintf("killed by the pool's health check: %d heartbeats of %v missed", missed, p.cfg.heartbeat))
				return
			}
		default:
			return // the worker is gone; watch handles it
		}
	}
}
