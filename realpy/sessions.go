package realpy

import (
	"container/list"
	"time"
)

// sessionTable is a pool's routes: which worker served each session. It
// holds at most limit routes: a new session past the limit drops the route
// of the session used least recently (its next call is routed as a new
// session's; what it left in its worker stays there, as after
// WithSessionTTL). Its methods need the pool's lock.
type sessionTable struct {
	limit  int
	routes map[string]*route
	order  list.List // of *route, the most recently used first
}

// route binds a session to the worker that served it.
type route struct {
	m       *member
	used    time.Time
	session string
	elem    *list.Element
}

func newSessionTable(limit int) *sessionTable {
	return &sessionTable{limit: limit, routes: map[string]*route{}}
}

// get returns the route of session, if any, without counting it as a use.
func (t *sessionTable) get(session string) (*route, bool) {
	r, ok := t.routes[session]
	return r, ok
}

// put routes session to m, used at now, dropping the least recently used
// route when the table is full.
func (t *sessionTable) put(session string, m *member, now time.Time) {
	if r, ok := t.routes[session]; ok {
		r.m = m
		t.touch(r, now)
		return
	}
	for t.limit > 0 && len(t.routes) >= t.limit {
		t.remove(t.order.Back().Value.(*route).session)
	}
	r := &route{m: m, used: now, session: session}
	r.elem = t.order.PushFront(r)
	t.routes[session] = r
}

// touch records a use of r at now.
func (t *sessionTable) touch(r *route, now time.Time) {
	r.used = now
	t.order.MoveToFront(r.elem)
}

// remove drops the route of session, if any.
func (t *sessionTable) remove(session string) {
	if r, ok := t.routes[session]; ok {
		t.order.Remove(r.elem)
		delete(t.routes, session)
	}
}

// forget drops the routes to m.
func (t *sessionTable) forget(m *member) {
	for s, r := range t.routes {
		if r.m == m {
			t.remove(s)
		}
	}
}

// expire drops the routes unused for ttl whose worker is not busy.
func (t *sessionTable) expire(now time.Time, ttl time.Duration) {
	for e := t.order.Back(); e != nil; {
		r := e.Value.(*route)
		prev := e.Prev()
		if now.Sub(r.used) < ttl {
			return // the rest were used later
		}
		if !r.m.busy() {
			t.remove(r.session)
		}
		e = prev
	}
}

func (t *sessionTable) len() int { return len(t.routes) }
