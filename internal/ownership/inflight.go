package ownership

import (
	"cmp"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Call is one call in flight on a worker (a real one, or a mock): begun
// with BeginCall and not yet ended. The leak checks report a call still in
// flight when a test ends as the test's leak.
type Call struct {
	Worker  string // the worker's id
	Pid     int    // the worker's pid (a mock's made-up one)
	Method  string
	Site    string // file:line of the first frame outside pyharness that made the call, "" when none
	Func    string // the function at Site
	Seq     uint64 // the order calls began in
	Started time.Time
}

type callEntry struct {
	call     Call
	pcs      [16]uintptr // enough to reach the user's frame: a few of pyharness's own above it
	n        int
	resolved bool
}

var calls struct {
	sync.Mutex
	live    map[uint64]*callEntry
	seq     uint64
	changed chan struct{} // closed (and replaced) when a call ends
}

// entries recycles the records of calls: a call in steady state allocates
// nothing for being recorded.
var entries = sync.Pool{New: func() any { return new(callEntry) }}

// CallToken is a call begun with BeginCall; End ends it.
type CallToken struct {
	e   *callEntry
	seq uint64
}

// armed is set by the first CallSeq: a leak check has taken its baseline,
// so calls from now on are recorded. Until then (a program, a test binary
// that checks nothing) BeginCall records nothing and costs one atomic load:
// every check takes its baseline with CallSeq before the calls it checks,
// and a call begun before a baseline is not one it reports.
var armed atomic.Bool

// BeginCall records a call of method on worker (pid) made now by the
// calling goroutine, until its CallCallToken's End (`defer
// ownership.BeginCall(...).End()`), once a check has taken a baseline
// (CallSeq). Its site is the first frame of the call stack outside
// pyharness, resolved only when InFlight reports it, so that a call pays
// for a stack capture, not for symbolising it.
func BeginCall(worker string, pid int, method string) CallToken {
	if !armed.Load() {
		return CallToken{}
	}
	e := entries.Get().(*callEntry)
	e.call = Call{Worker: worker, Pid: pid, Method: method, Started: time.Now()}
	e.resolved = false
	e.n = runtime.Callers(2, e.pcs[:])
	calls.Lock()
	if calls.live == nil {
		calls.live = map[uint64]*callEntry{}
	}
	calls.seq++
	seq := calls.seq
	e.call.Seq = seq
	calls.live[seq] = e
	calls.Unlock()
	return CallToken{e: e, seq: seq}
}

// End ends the call; it is idempotent.
func (t CallToken) End() {
	if t.e == nil {
		return // begun before any baseline: not recorded
	}
	calls.Lock()
	if calls.live[t.seq] != t.e {
		calls.Unlock()
		return
	}
	delete(calls.live, t.seq)
	if calls.changed != nil {
		close(calls.changed)
		calls.changed = nil
	}
	calls.Unlock()
	entries.Put(t.e)
}

// CallSeq returns the number of the last call begun: a baseline for
// InFlightSince. It arms the record: calls begun from now on are recorded.
func CallSeq() uint64 {
	armed.Store(true)
	calls.Lock()
	defer calls.Unlock()
	return calls.seq
}

// InFlight returns the calls in flight, in the order they began.
func InFlight() []Call { return InFlightSince(0) }

// InFlightSince returns the calls in flight that began after the baseline
// seq (CallSeq), in the order they began.
func InFlightSince(seq uint64) []Call {
	calls.Lock()
	snaps := make([]callEntry, 0, len(calls.live)) // copies: an entry is recycled once its call ends
	for s, e := range calls.live {
		if s > seq {
			snaps = append(snaps, *e)
		}
	}
	calls.Unlock()
	slices.SortFunc(snaps, func(a, b callEntry) int { return cmp.Compare(a.call.Seq, b.call.Seq) })
	out := make([]Call, len(snaps))
	for i := range snaps {
		out[i] = snaps[i].resolve()
	}
	return out
}

// CallGrace is how long a leak check waits for calls in flight to end
// before it reports them: a call whose context ended with the test (a
// SpecContext, t.Context) needs a moment to return. It is waited in full
// only when a call did leak. pyharness's own test binaries, whose failure
// specs leak calls on purpose, shorten it; nothing else should change it.
var CallGrace = time.Second

// WaitCalls waits, at most timeout, until no call begun after seq is in
// flight, and returns those still in flight: a call whose context ended
// with its test (a SpecContext) is given the moment it needs to return.
func WaitCalls(seq uint64, timeout time.Duration) []Call { return WaitCallsOn(seq, timeout, "", 0) }

// WaitCallsOn is WaitCalls for the calls on one worker (its id and pid;
// "" and 0 match any).
func WaitCallsOn(seq uint64, timeout time.Duration, worker string, pid int) []Call {
	return WaitCallsMatching(seq, timeout, func(c Call) bool { return (worker == "" || c.Worker == worker) && (pid == 0 || c.Pid == pid) })
}

// WaitCallsMatching is WaitCalls for the calls on which on is true: an
// end-of-suite check leaves out those a test's check reported already, so
// it does not wait for them again.
func WaitCallsMatching(seq uint64, timeout time.Duration, on func(Call) bool) []Call {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		calls.Lock()
		busy := false
		for s, e := range calls.live {
			if s > seq && on(e.call) {
				busy = true
				break
			}
		}
		if !busy {
			calls.Unlock()
			return nil
		}
		if calls.changed == nil {
			calls.changed = make(chan struct{})
		}
		changed := calls.changed
		calls.Unlock()
		select {
		case <-changed:
		case <-timer.C:
			var left []Call
			for _, c := range InFlightSince(seq) {
				if on(c) {
					left = append(left, c)
				}
			}
			return left
		}
	}
}

// resolve finds the site of the call a copy of its entry records.
func (e *callEntry) resolve() Call {
	if e.resolved {
		return e.call
	}
	e.resolved = true
	frames := runtime.CallersFrames(e.pcs[:e.n])
	for {
		f, more := frames.Next()
		if f.Function != "" && !Library(f.Function) && !Stdlib(f.Function, f.File) && !framework(f.Function) {
			e.call.Site, e.call.Func = f.File+":"+strconv.Itoa(f.Line), f.Function
			break
		}
		if !more {
			break
		}
	}
	return e.call
}

// DisarmForTest returns the record to its state before any baseline, for a
// spec of that state; restore re-arms it as it was.
func DisarmForTest() (restore func()) {
	was := armed.Swap(false)
	return func() { armed.Store(was) }
}
