package realpy

import (
	"sync"
	"time"
)

// EventKind says what happened to a pool's worker.
type EventKind string

// The lifecycle of a pool's workers.
const (
	EventStarted  EventKind = "started"  // a process exists (spawned, or forked)
	EventReady    EventKind = "ready"    // it answered its readiness ping
	EventCrashed  EventKind = "crashed"  // it died while the pool was using it
	EventReplaced EventKind = "replaced" // a new worker took a crashed one's place
	EventStopped  EventKind = "stopped"  // the pool closed it
	EventZygote   EventKind = "zygote"   // the zygote died and was restarted
	// EventForkUnsafe: the zygote cannot fork safely (Cause, a
	// *ForkUnsafeError, says why): the pool's workers are spawned by it
	// instead (WithForkSafety). Once per pool.
	EventForkUnsafe EventKind = "fork-unsafe"
	// EventZygoteSuspect: forked workers hung or died on their first call,
	// twice in a row: the zygote's state poisons its forks, and the pool's
	// workers are spawned by it from then on (PoolStats.ForkSuspects).
	EventZygoteSuspect EventKind = "zygote-suspect"
)

// Event is one lifecycle event of a pool.
type Event struct {
	Kind     EventKind
	WorkerID string
	Pid      int
	// Replaces is the id of the worker a replacement took the place of.
	Replaces string
	// Cause is why a worker crashed or a start failed.
	Cause error
	Time  time.Time
}

// Subscription delivers a pool's events in order on C until it is closed,
// by Close or when the pool closes (after its last event). It never blocks
// the pool: events queue up until read.
type Subscription struct {
	C <-chan Event

	c      chan Event
	mu     sync.Mutex
	queue  []Event
	wake   chan struct{}
	closed bool
	done   chan struct{}
	bus    *bus
}

type bus struct {
	mu   sync.Mutex
	subs map[*Subscription]struct{}
}

func newBus() *bus { return &bus{subs: map[*Subscription]struct{}{}} }

func (b *bus) subscribe() *Subscription {
	s := &Subscription{c: make(chan Event), wake: make(chan struct{}, 1), done: make(chan struct{}), bus: b}
	s.C = s.c
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	go s.forward()
	return s
}

func (b *bus) publish(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		s.push(e)
	}
}

// closeAll ends every subscription once its queued events are read or dropped.
func (b *bus) closeAll() {
	b.mu.Lock()
	subs := b.subs
	b.subs = map[*Subscription]struct{}{}
	b.mu.Unlock()
	for s := range subs {
		s.end()
	}
}

func (s *Subscription) push(e Event) {
	s.mu.Lock()
	if !s.closed {
		s.queue = append(s.queue, e)
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Subscription) end() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Subscription) forward() {
	defer close(s.c)
	for {
		s.mu.Lock()
		if len(s.queue) == 0 {
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return
			}
			select {
			case <-s.wake:
			case <-s.done:
				return
			}
			continue
		}
		e := s.queue[0]
		s.queue = s.queue[1:]
		s.mu.Unlock()
		select {
		case s.c <- e:
		case <-s.done:
			return
		}
	}
}

// Close stops delivery and drops queued events. Idempotent.
func (s *Subscription) Close() {
	s.bus.mu.Lock()
	delete(s.bus.subs, s)
	s.bus.mu.Unlock()
	s.mu.Lock()
	if s.closed && s.isDone() {
		s.mu.Unlock()
		return
	}
	s.closed = true
	if !s.isDone() {
		close(s.done)
	}
	s.mu.Unlock()
}

func (s *Subscription) isDone() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}
