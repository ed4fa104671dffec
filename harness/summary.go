package harness

import (
	"cmp"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
)

// Summary is what ReportAfterSuite prints about a suite's interpreters.
type Summary struct {
	Pool        string        // the pool's declaration (file:line), when the suite has several
	Hosts       int           // pool hosts started (should be 1)
	HostPids    map[int]bool  // pool hosts the processes attached to
	Processes   int           // Ginkgo processes that attached
	Spawned     int64         // interpreters started as processes: the host, and every worker spawned (realpy.Start's too)
	Forked      int64         // workers forked from the host
	Containers  int           // containers started
	HostOutcome string        // started, reused (a warm host of an earlier run) or replaced
	HostReason  string        // why a warm host was replaced
	HostPath    string        // a container: how it is reached and fed, and why
	Saved       time.Duration // reused: the start-up of the host, not paid again
	Warmup      time.Duration
	SuiteTime   time.Duration
	WarmupShare float64 // warm-up over suite wall time, summed over processes
	// The host could not fork safely (what it named: a library and the
	// module that loaded it): workers were spawned in place of forks.
	ForkUnsafe    string
	ForkFallbacks int64  // workers spawned in place of forks, over every process
	Suspects      int64  // times the host was found poisoned (forked workers hung or died on their first calls)
	Threads       string // the thread limits the workers ran with (realpy.ThreadLimits), when pyharness set any
}

// summarize adds up the report entries of the pool declared at pool.
func summarize(r Report, pool string) Summary {
	s := Summary{HostPids: map[int]bool{}, SuiteTime: r.RunTime}
	for _, spec := range r.SpecReports {
		for _, e := range spec.ReportEntries {
			switch e.Name {
			case entryHost:
				var h hostEntry
				if json.Unmarshal([]byte(e.StringRepresentation()), &h) == nil && h.Pool == pool {
					s.Hosts++
					if h.Outcome != "reused" {
						s.Spawned++
					}
					if h.Container {
						s.Containers++
					}
					s.HostOutcome, s.HostReason, s.HostPath = h.Outcome, h.Reason, h.Path
					s.Saved = time.Duration(h.SavedMS * float64(time.Millisecond))
				}
			case entryStats:
				var st statsEntry
				if json.Unmarshal([]byte(e.StringRepresentation()), &st) == nil && st.Pool == pool {
					s.Processes++
					s.HostPids[st.HostPid] = true
					s.Spawned += st.Spawned
					s.Forked += st.Forked
					s.Warmup += time.Duration(st.WarmupMS * float64(time.Millisecond))
					s.ForkFallbacks += st.Fallbacks
					s.Suspects += st.Suspects
					if st.ForkUnsafe != "" {
						s.ForkUnsafe = st.ForkUnsafe
					}
					if st.Threads != "" {
						s.Threads = st.Threads
					}
				}
			}
		}
	}
	if s.SuiteTime > 0 && s.Processes > 0 {
		s.WarmupShare = float64(s.Warmup) / (float64(s.SuiteTime) * float64(s.Processes))
	}
	return s
}

func (s Summary) String() string {
	var b strings.Builder
	if s.Pool != "" {
		fmt.Fprintf(&b, "pyharness: the shared pool declared at %s:\n", s.Pool)
	}
	fmt.Fprintf(&b, "pyharness: %d pool host(s), %d process(es) attached; interpreters: %d spawned, %d forked; %d container(s)\n",
		s.Hosts, s.Processes, s.Spawned, s.Forked, s.Containers)
	switch s.HostOutcome {
	case "reused":
		fmt.Fprintf(&b, "pyharness: pool host reused, warm from an earlier run: %v of start-up (imports) not paid again\n", s.Saved.Round(time.Millisecond))
	case "replaced":
		fmt.Fprintf(&b, "pyharness: pool host replaced: %s\n", s.HostReason)
	}
	if s.HostPath != "" {
		fmt.Fprintf(&b, "pyharness: container reached by %s\n", s.HostPath)
	}
	if s.ForkUnsafe != "" || s.ForkFallbacks > 0 {
		fmt.Fprintf(&b, "pyharness: %d worker(s) spawned in place of forks: the pool host cannot fork safely (%s); see docs/scientific-python.md\n",
			s.ForkFallbacks, cmp.Or(s.ForkUnsafe, "a suspect zygote"))
	}
	if s.Suspects > 0 {
		fmt.Fprintf(&b, "pyharness: pool host found poisoned %d time(s): forked workers hung or died on their first calls; later workers were spawned\n", s.Suspects)
	}
	if s.Threads != "" {
		fmt.Fprintf(&b, "pyharness: thread limits: %s\n", s.Threads)
	}
	fmt.Fprintf(&b, "pyharness: warm-up %v of %v suite wall time per process (%.1f%%)",
		(s.Warmup / time.Duration(max(s.Processes, 1))).Round(time.Millisecond), s.SuiteTime.Round(time.Millisecond), 100*s.WarmupShare)
	return b.String()
}
