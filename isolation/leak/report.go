package leak

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/goleak"

	"github.com/pyharness/pyharness/internal/counts"
	"github.com/pyharness/pyharness/internal/ownership"
	"github.com/pyharness/pyharness/internal/proc"
	"github.com/pyharness/pyharness/internal/stacks"
)

// Kinds of Leak besides the interpreters' (spawned worker, forked worker,
// zygote, pool).
const (
	KindProcess   = "process"   // a process not started through realpy
	KindGoroutine = "goroutine" // a goroutine
)

// Leak is one thing a test left running.
type Leak struct {
	Kind    string // spawned worker, forked worker, zygote, pool, process, call, goroutine
	ID      string // the worker's (zygote's, pool's) id, also a call's; a goroutine's number
	Method  string // a call's method
	Pid     int    // the process's pid (0 for a pool or a goroutine)
	Site    string // file:line where it was started (created, for a goroutine); "" when no frame outside pyharness started it
	Func    string // the function at Site
	Detail  string // a pool's workers, a process's command line, a goroutine's state
	Stack   string // a goroutine's stack, indented
	Library bool   // a goroutine of pyharness's own (its caller left a worker, client or pool open)
	Ended   bool   // the check killed it, so that the next test starts clean
	Folded  int    // goroutines pyharness ran for it, ended with it (not reported apart)
}

func (l Leak) String() string {
	switch l.Kind {
	case KindGoroutine:
		whose := ""
		if l.Library {
			whose = " of pyharness, for something left open"
		}
		s := fmt.Sprintf("goroutine %s [%s]%s", l.ID, l.Detail, whose)
		if l.Site != "" {
			s += fmt.Sprintf(", created at %s by %s", l.Site, stacks.ShortFunc(l.Func))
		}
		return s + ":\n" + l.Stack
	case KindProcess:
		return fmt.Sprintf("process pid %d: %s", l.Pid, l.Detail)
	case KindCall:
		return describeCall(l)
	}
	s := l.Kind + " " + l.ID
	switch {
	case l.Pid > 0 && l.Detail != "":
		s += fmt.Sprintf(" (pid %d; %s)", l.Pid, l.Detail)
	case l.Pid > 0:
		s += fmt.Sprintf(" (pid %d)", l.Pid)
	case l.Detail != "":
		s += " (" + l.Detail + ")"
	}
	if l.Site != "" {
		s += ", started at " + l.Site
	} else {
		s += ", started by pyharness itself (no frame outside it)"
	}
	if l.Ended {
		s += "; killed by the leak check"
	}
	if l.Folded > 0 {
		s += fmt.Sprintf(", with the %d goroutine(s) pyharness ran for it", l.Folded)
	}
	return s
}

// Report is what a leak check found: interpreters first, then processes,
// then calls still in flight, then goroutines, one block each. It is an
// error.
type Report struct {
	Title string // what was checked, e.g. "left running at the end of the suite"
	Leaks []Leak
}

func (r *Report) Error() string {
	var b strings.Builder
	b.WriteString(r.Title + ":")
	for _, l := range r.Leaks {
		b.WriteString("\n  " + strings.ReplaceAll(l.String(), "\n", "\n  "))
	}
	return b.String()
}

// GomegaString keeps Gomega from printing the report twice (its text, then
// its fields) when it fails an assertion.
func (r *Report) GomegaString() string { return fmt.Sprintf("%d leak(s)", len(r.Leaks)) }

// Processes returns the leaks that are processes (interpreters, pools included).
func (r *Report) Processes() []Leak {
	return slices.DeleteFunc(slices.Clone(r.Leaks), func(l Leak) bool { return l.Kind == KindGoroutine || l.Kind == KindCall })
}

// Calls returns the leaks that are calls still in flight.
func (r *Report) Calls() []Leak {
	return slices.DeleteFunc(slices.Clone(r.Leaks), func(l Leak) bool { return l.Kind != KindCall })
}

// Goroutines returns the leaks that are goroutines.
func (r *Report) Goroutines() []Leak {
	return slices.DeleteFunc(slices.Clone(r.Leaks), func(l Leak) bool { return l.Kind != KindGoroutine })
}

// err returns r as an error, nil when it found nothing.
func (r *Report) err() error {
	if r == nil || len(r.Leaks) == 0 {
		return nil
	}
	return r
}

// Baseline is what ran when a test began: what runs later and is the
// test's (not a pool's that ran before it, nor a shared pool started
// lazily for the whole binary) is its leak.
type Baseline struct {
	seq        uint64
	calls      uint64 // the last call begun (internal/ownership): later ones still in flight are the test's
	goroutines goleak.Option
	ids        map[int]bool // the goroutines running as goroutines was taken (quiet); nil when unknown
	procs      map[int]bool
	keep       map[int]bool // processes that are nobody's leak (a suite's pool host)
	adopted    uint64       // what was started up to this registration is not the test's (Adopt)
	end        bool
}

// Begin records the baseline of a test. Call it as the test starts.
func Begin() (*Baseline, error) {
	ids := goroutineIDs()
	b := &Baseline{seq: ownership.Seq(), calls: ownership.CallSeq(), goroutines: goleak.IgnoreCurrent(), ids: ids, procs: map[int]bool{}}
	procs, err := OwnedProcesses()
	if err != nil {
		return nil, err
	}
	for _, p := range procs {
		b.procs[p.Pid] = true
	}
	return b, nil
}

// AtEnd is the baseline of the end of a suite or test binary: every
// interpreter still running is a leak but those of keep (the suite's own
// pool host), and goroutines count from goroutines (goleak.IgnoreCurrent,
// taken as the suite began; nil checks processes only).
func AtEnd(goroutines goleak.Option, keep ...int) *Baseline {
	b := &Baseline{goroutines: goroutines, procs: map[int]bool{}, keep: map[int]bool{}, end: true}
	for _, pid := range keep {
		b.keep[pid] = true
	}
	return b
}

// End is the baseline of the end of the suite or test binary that b began
// (Begin, as it started): AtEnd with b's goroutines. It is AtEnd's faster
// form: knowing which goroutines ran at the start, a check that has nothing
// to report returns at once, also when goroutines a test's check reported
// are still running.
func (b *Baseline) End(keep ...int) *Baseline {
	e := AtEnd(b.goroutines, keep...)
	e.ids = b.ids
	return e
}

// accounted reports whether t is nobody's leak: it, or the pool or zygote
// owning it, ran before the baseline, was started for the whole binary, or
// is kept.
func (b *Baseline) accounted(t *ownership.Token) bool {
	r := t.Root()
	return !b.end && r.Seq <= max(b.seq, b.adopted) || r.Suite || b.keep[r.Pid]
}

// Adopt declares what was started since the baseline, up to now, not the
// test's: the setup of a container that outlives the test (the BeforeAll
// of an Ordered container runs after the first spec's BeforeEach).
func (b *Baseline) Adopt() error {
	b.adopted = ownership.Seq()
	b.calls = ownership.CallSeq()
	b.ids = goroutineIDs()
	b.goroutines = goleak.IgnoreCurrent()
	procs, err := OwnedProcesses()
	if err != nil {
		return err
	}
	for _, p := range procs {
		b.procs[p.Pid] = true
	}
	return nil
}

// Check reports what was started since the baseline and is still running:
// interpreters and pools not accounted for by a pool that ran before (each
// is then killed, with the goroutines pyharness ran for it), other
// processes this process owns, calls made since the baseline still in
// flight on any worker or mock (named by method, worker and the line that
// made them; given a second to end first, and collected before any
// interpreter is killed), and goroutines (goleak's check, with
// Ginkgo's and opts' ignored). Goroutines of pyharness's own plumbing are
// not reported while an interpreter accounted for by a pool started since
// the baseline runs (a replacement of a crashed worker, a pool started
// lazily), nor after the check killed an interpreter (they are its, winding
// down). It returns nil when nothing is left, else a *Report titled
// title.
func (b *Baseline) Check(title string, opts ...goleak.Option) error {
	r := &Report{Title: title}
	calls := reportCallsOnce(callsInFlight(b.calls, b.end), b.end)
	ended := map[int]bool{}
	var leaked []*ownership.Token
	for _, t := range ownership.Live() {
		if t.Root() != t || b.accounted(t) {
			continue
		}
		leaked = append(leaked, t)
	}
	killed := false // an interpreter this check killed (in a container, its pid is not known here)
	for _, t := range settle(leaked) {
		killed = true
		l := Leak{Kind: string(t.Kind), ID: t.ID, Pid: t.Pid, Site: t.Site, Func: t.Func, Detail: t.Detail(), Ended: true}
		markTree(t, ended)
		before := plumbingGoroutines()
		t.End()
		after := plumbingGoroutines()
		for id := range before {
			if !after[id] {
				l.Folded++
			}
		}
		r.Leaks = append(r.Leaks, l)
	}
	procs, err := b.unregistered(ended)
	if err != nil {
		return err
	}
	r.Leaks = append(r.Leaks, procs...)
	for _, c := range calls {
		r.Leaks = append(r.Leaks, callLeak(c))
	}
	// An interpreter this check killed may still be winding down its
	// plumbing (the copies of its output reach EOF late when the zygote or
	// a container relays them): its goroutines are part of its entry, not
	// leaks of their own.
	r.Leaks = append(r.Leaks, b.goroutineLeaks(opts, killed)...)
	return r.err()
}

// settle waits a moment for entries whose process has died and is being
// reaped, and returns those still running.
func settle(ts []*ownership.Token) []*ownership.Token {
	if len(ts) == 0 {
		return nil
	}
	timer := time.NewTimer(time.Second)
	defer timer.Stop()
	var left []*ownership.Token
	for _, t := range ts {
		if ch := t.Exited(); ch != nil && t.Pid > 0 && !ProcessAlive(t.Pid) {
			select {
			case <-ch:
			case <-timer.C:
			}
		}
		if !t.Gone() {
			left = append(left, t)
		}
	}
	return left
}

// unregistered returns the processes this process owns, started since the
// baseline, that realpy did not start (or that are not a descendant of
// an interpreter it started).
func (b *Baseline) unregistered(ended map[int]bool) ([]Leak, error) {
	procs, err := OwnedProcesses()
	if err != nil {
		return nil, err
	}
	var leaks []Leak
	for _, p := range procs {
		if b.procs[p.Pid] || b.keep[p.Pid] || ended[p.Pid] || p.State == "Z" && ended[p.PPid] {
			continue
		}
		if t := ancestorEntry(p.Pid); t != nil && (b.accounted(t) || ended[t.Pid]) {
			continue
		}
		if ownership.ByPid(p.Pid) != nil || !ProcessAlive(p.Pid) {
			continue
		}
		leaks = append(leaks, Leak{Kind: KindProcess, Pid: p.Pid, Detail: fmt.Sprintf("ppid %d, state %s: %s", p.PPid, p.State, p.Cmdline)})
	}
	return leaks, nil
}

// ancestorEntry returns the entry of pid or of its nearest ancestor that
// realpy started, nil if none.
func ancestorEntry(pid int) *ownership.Token {
	for range 16 {
		if t := ownership.ByPid(pid); t != nil {
			return t
		}
		st, ok := proc.ReadStat(pid)
		if !ok || st.PPid <= 1 || st.PPid == os.Getpid() {
			return nil
		}
		pid = st.PPid
	}
	return nil
}

var goleakID = regexp.MustCompile(`Goroutine (\d+) in state`)

// goroutineLeaks runs goleak's check and reports what it found, one block
// per goroutine, leaving out pyharness's plumbing for interpreters that are
// accounted for.
func (b *Baseline) goroutineLeaks(opts []goleak.Option, killed bool) []Leak {
	if b.goroutines == nil {
		return nil // a check of processes only
	}
	// pyharness's plumbing is excused while something accounted for was
	// started since the baseline (a replacement, a lazily started shared
	// pool), and a pool's own machinery while that pool is accounted for
	// (it may be replacing a worker right now).
	started, pools := false, false
	for _, t := range ownership.Live() {
		if !b.accounted(t) {
			continue
		}
		started = started || b.end || t.Seq > b.seq
		pools = pools || t.Kind == ownership.Pool
	}
	excused := func(g stacks.Goroutine) bool { return killed || started || pools && g.HasFrame(poolMachinery) }
	if quiet(b.ids, func(g stacks.Goroutine) bool {
		all, _ := g.Plumbing()
		return !(all && excused(g)) && !(b.end && goroutineReported(g.ID))
	}) {
		return nil
	}
	counts.GoroutineFinds.Add(1)
	found := goleak.Find(append(append(IgnoreGinkgo(), b.goroutines), opts...)...)
	if found == nil {
		return nil
	}
	return reportOnce(goroutinesFrom(found, excused), b.end)
}

// reported holds the goroutines a test's check has reported already (a
// goroutine's number is never reused in a process): a goroutine cannot be
// killed as an interpreter is, so it is still running at the end of the
// suite, where reporting it again would fail the suite twice for one leak.
var reported struct {
	sync.Mutex
	ids map[string]bool
}

// goroutineReported reports whether a test's check reported goroutine id.
func goroutineReported(id int) bool {
	reported.Lock()
	defer reported.Unlock()
	return reported.ids[strconv.Itoa(id)]
}

// reportOnce records the goroutines a test's check reports and, at the end
// of a suite or binary, leaves out those already reported.
func reportOnce(leaks []Leak, end bool) []Leak {
	reported.Lock()
	defer reported.Unlock()
	if reported.ids == nil {
		reported.ids = map[string]bool{}
	}
	kept := leaks[:0]
	for _, l := range leaks {
		if l.Kind != KindGoroutine {
			kept = append(kept, l)
			continue
		}
		if end && reported.ids[l.ID] {
			continue
		}
		reported.ids[l.ID] = true
		kept = append(kept, l)
	}
	return kept
}

// reportedCalls holds the calls a test's check has reported: one still in
// flight at the end of the suite is not reported twice.
var reportedCalls struct {
	sync.Mutex
	seqs map[uint64]bool
}

// callReported reports whether a test's check reported the call seq.
func callReported(seq uint64) bool {
	reportedCalls.Lock()
	defer reportedCalls.Unlock()
	return reportedCalls.seqs[seq]
}

func reportCallsOnce(calls []ownership.Call, end bool) []ownership.Call {
	reportedCalls.Lock()
	defer reportedCalls.Unlock()
	if reportedCalls.seqs == nil {
		reportedCalls.seqs = map[uint64]bool{}
	}
	var kept []ownership.Call
	for _, c := range calls {
		if end && reportedCalls.seqs[c.Seq] {
			continue
		}
		reportedCalls.seqs[c.Seq] = true
		kept = append(kept, c)
	}
	return kept
}

// poolMachinery is the prefix of the functions of a pool's own goroutines.
const poolMachinery = "github.com/pyharness/pyharness/realpy.(*Pool)."

// goroutinesFrom turns goleak's report into leaks (the goroutines still
// running of those it names). pyharness's plumbing is left out where
// excused says so.
func goroutinesFrom(found error, excused func(stacks.Goroutine) bool) []Leak {
	live := stacks.All()
	var ids []int
	for _, m := range goleakID.FindAllStringSubmatch(found.Error(), -1) {
		id, _ := strconv.Atoi(m[1])
		ids = append(ids, id)
	}
	sort.Ints(ids)
	var leaks []Leak
	for _, id := range slices.Compact(ids) {
		g, ok := live[id]
		if !ok {
			continue // ended meanwhile
		}
		all, lib := g.Plumbing()
		if all && excused(g) {
			continue
		}
		leaks = append(leaks, Leak{Kind: KindGoroutine, ID: strconv.Itoa(id), Site: g.Creator.File, Func: g.Creator.Func,
			Detail: g.State, Stack: g.Stack("    "), Library: lib})
	}
	return leaks
}

// markTree adds the pids of t and of everything it owns to pids.
func markTree(t *ownership.Token, pids map[int]bool) {
	if t.Pid > 0 {
		pids[t.Pid] = true
	}
	for _, c := range ownership.Children(t) {
		markTree(c, pids)
	}
}

// plumbingGoroutines returns the ids of pyharness's plumbing goroutines now.
func plumbingGoroutines() map[int]bool {
	ids := map[int]bool{}
	for id, g := range stacks.All() {
		if all, _ := g.Plumbing(); all {
			ids[id] = true
		}
	}
	return ids
}
