package leak

import (
	"fmt"
	"strconv"

	"github.com/pyharness/pyharness/internal/ownership"
	"github.com/pyharness/pyharness/internal/stacks"
)

// KindCall is a Leak that is a call still in flight on a worker (or a
// mock) when the test ended: the test returned while a goroutine of its
// own still waited for an answer.
const KindCall = "call"

// callsInFlight returns the calls begun after seq that are still in flight
// once ownership.CallGrace has passed (at once when there are none): those a line
// outside pyharness made. Calls pyharness makes on its own goroutines (a
// pool's health checks, the wire fake's) are not a test's.
func callsInFlight(seq uint64, end bool) []ownership.Call {
	var out []ownership.Call
	unreported := func(c ownership.Call) bool { return !end || !callReported(c.Seq) }
	for _, c := range ownership.WaitCallsMatching(seq, ownership.CallGrace, unreported) {
		if c.Site != "" {
			out = append(out, c)
		}
	}
	return out
}

// callLeak is the Leak of a call in flight.
func callLeak(c ownership.Call) Leak {
	return Leak{Kind: KindCall, ID: c.Worker, Pid: c.Pid, Method: c.Method, Site: c.Site, Func: c.Func,
		Detail: "call " + strconv.FormatUint(c.Seq, 10)}
}

// describeCall is how a call in flight reads in a report.
func describeCall(l Leak) string {
	s := fmt.Sprintf("call %q still in flight on worker %s", l.Method, l.ID)
	if l.Pid > 0 {
		s += fmt.Sprintf(" (pid %d)", l.Pid)
	}
	if l.Site != "" {
		s += fmt.Sprintf(", made at %s by %s", l.Site, stacks.ShortFunc(l.Func))
	}
	return s + ": the test ended before its answer came (wait for the call, or end its context, before the test returns)"
}

// callLines are the calls in flight as a Diff's lines.
func callLines(calls []ownership.Call) []string {
	var lines []string
	for _, c := range calls {
		lines = append(lines, "+ "+describeCall(callLeak(c)))
	}
	return lines
}
