package leak

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.uber.org/goleak"

	"github.com/pyharness/pyharness"
	"github.com/pyharness/pyharness/internal/counts"
	"github.com/pyharness/pyharness/internal/ownership"
	"github.com/pyharness/pyharness/internal/stacks"
)

// Snapshot is the state of this process (and optionally of one Python
// worker) at one moment.
type Snapshot struct {
	goroutines goleak.Option
	ids        map[int]bool // the goroutines running as goroutines was taken (quiet)
	processes  map[int]Process
	seq        uint64 // what realpy had started when the snapshot was taken (internal/ownership)
	calls      uint64 // the last call begun when it was taken
	fds        map[int]string
	pidfds     map[int]int // the pid each pidfd among fds refers to
	env        map[string]string
	temp       map[string]bool
	python     *PythonState
	opts       snapshotOptions
}

// PythonState is what a worker's `state` method reports.
type PythonState struct {
	Modules []string `json:"modules"` // all of sys.modules
	// Imported: the modules the worker's handlers imported since it
	// started (or was forked), without the worker's own lazy imports; nil
	// from a worker that does not report it, whose Modules are compared.
	Imported []string                     `json:"imported"`
	Globals  map[string]map[string]string `json:"globals"`
	Pid      int                          `json:"pid"`
	WorkerID string                       `json:"worker_id"`
}

// worker names the worker that answered: "worker ID (pid N)".
func (p *PythonState) worker() string {
	switch {
	case p.WorkerID != "" && p.Pid > 0:
		return fmt.Sprintf("worker %s (pid %d)", p.WorkerID, p.Pid)
	case p.Pid > 0:
		return fmt.Sprintf("worker pid %d", p.Pid)
	case p.WorkerID != "":
		return "worker " + p.WorkerID
	}
	return "the worker"
}

type snapshotOptions struct {
	python        pyharness.Caller
	modules       []string
	tempDirs      []string
	ignoreEnv     []string
	ignoreModules []string
	goroutines    []goleak.Option
}

// SnapshotOption configures Take.
type SnapshotOption func(*snapshotOptions)

// WithPython also snapshots a worker: its loaded modules and the globals of
// its handler modules (and of modules, if named).
func WithPython(worker pyharness.Caller, modules ...string) SnapshotOption {
	return func(o *snapshotOptions) { o.python, o.modules = worker, modules }
}

// IgnoreModules leaves these Python modules out of the comparison: modules
// a spec imports on purpose. A name matches exactly; "pkg.*" matches the
// submodules of pkg (name pkg as well to leave pkg itself out).
func IgnoreModules(names ...string) SnapshotOption {
	return func(o *snapshotOptions) { o.ignoreModules = append(o.ignoreModules, names...) }
}

func (o *snapshotOptions) ignoredModule(name string) bool {
	for _, pattern := range o.ignoreModules {
		if pattern == name {
			return true
		}
		if parent, ok := strings.CutSuffix(pattern, ".*"); ok && strings.HasPrefix(name, parent+".") {
			return true
		}
	}
	return false
}

// WithTempDirs watches these directories for new entries, besides os.TempDir().
func WithTempDirs(dirs ...string) SnapshotOption {
	return func(o *snapshotOptions) { o.tempDirs = append(o.tempDirs, dirs...) }
}

// IgnoreEnv leaves these environment variables out of the comparison.
func IgnoreEnv(keys ...string) SnapshotOption {
	return func(o *snapshotOptions) { o.ignoreEnv = append(o.ignoreEnv, keys...) }
}

// IgnoreGoroutines passes goleak options to the goroutine comparison.
func IgnoreGoroutines(opts ...goleak.Option) SnapshotOption {
	return func(o *snapshotOptions) { o.goroutines = append(o.goroutines, opts...) }
}

// Take records the current state.
func Take(ctx context.Context, opts ...SnapshotOption) (*Snapshot, error) {
	ids := goroutineIDs()
	s := &Snapshot{goroutines: goleak.IgnoreCurrent(), ids: ids, env: Environ()}
	for _, opt := range opts {
		opt(&s.opts)
	}
	procs, err := OwnedProcesses()
	if err != nil {
		return nil, err
	}
	s.processes, s.seq, s.calls = map[int]Process{}, ownership.Seq(), ownership.CallSeq()
	for _, p := range procs {
		s.processes[p.Pid] = p
	}
	if s.fds, err = OpenFDs(); err != nil {
		return nil, err
	}
	s.pidfds = pidfdPids(s.fds)
	s.temp = TempEntries(append([]string{os.TempDir()}, s.opts.tempDirs...)...)
	if s.opts.python != nil {
		s.python = &PythonState{}
		args := map[string]any{"modules": s.opts.modules}
		if err := s.opts.python.Call(ctx, "state", args, s.python); err != nil {
			return nil, fmt.Errorf("leak: python state: %w", err)
		}
	}
	return s, nil
}

// Diff is what changed between two snapshots; each line reads as a finding.
type Diff struct {
	Goroutines error    // goleak's report of new goroutines
	Processes  []string // new processes
	Calls      []string // calls made since the first snapshot still in flight (on any worker or mock)
	// FDs are the newly opened file descriptors, but those pyharness
	// holds for what a pool that ran before accounts for (a replacement of
	// a crashed worker, a lazily started shared pool); one it holds for an
	// interpreter the test started names it.
	FDs       []string
	TempFiles []string // new entries in temp dirs
	Env       []string // added, changed or removed variables
	Modules   []string // Python modules the worker's handlers imported
	Globals   []string // added, changed or removed globals of handler modules
	// Worker names the Python worker Modules and Globals come from
	// ("worker ID (pid N)"); WorkerChanged says why they could not be
	// compared: the snapshots came from two different workers.
	Worker        string
	WorkerChanged string
}

// Empty reports whether nothing changed.
func (d *Diff) Empty() bool {
	return d.Goroutines == nil && d.WorkerChanged == "" &&
		len(d.Processes)+len(d.Calls)+len(d.FDs)+len(d.TempFiles)+len(d.Env)+len(d.Modules)+len(d.Globals) == 0
}

func (d *Diff) String() string {
	if d.Empty() {
		return "no contamination"
	}
	var b strings.Builder
	section := func(title string, lines []string) {
		if len(lines) == 0 {
			return
		}
		fmt.Fprintf(&b, "%s:\n", title)
		for _, l := range lines {
			fmt.Fprintf(&b, "  %s\n", l)
		}
	}
	section("processes left running", d.Processes)
	section("calls still in flight", d.Calls)
	section("file descriptors left open", d.FDs)
	section("files left in temp dirs", d.TempFiles)
	section("environment changed", d.Env)
	if d.WorkerChanged != "" {
		fmt.Fprintf(&b, "Python state not compared:\n  %s\n", d.WorkerChanged)
	}
	section("Python modules imported by the handlers of "+d.Worker, d.Modules)
	if len(d.Modules) > 0 {
		names := make([]string, len(d.Modules))
		for i, l := range d.Modules {
			names[i] = strconv.Quote(strings.TrimPrefix(l, "+ "))
		}
		fmt.Fprintf(&b, "  (a module imported on purpose: IgnoreModules(%s) leaves it out)\n", strings.Join(names, ", "))
	}
	section("Python globals changed in "+d.Worker, d.Globals)
	if d.Goroutines != nil {
		fmt.Fprintf(&b, "goroutines left running:\n  %s\n", strings.ReplaceAll(d.Goroutines.Error(), "\n", "\n  "))
	}
	return strings.TrimRight(b.String(), "\n")
}

// Error makes a non-empty Diff usable as an error.
func (d *Diff) Error() string { return "contamination detected:\n" + d.String() }

// Err returns d as an error, nil when nothing changed.
func (d *Diff) Err() error {
	if d.Empty() {
		return nil
	}
	return d
}

// Diff compares s (before) with after. Goroutines are compared live, now.
func (s *Snapshot) Diff(after *Snapshot) *Diff {
	d := &Diff{}
	d.Calls = callLines(callsInFlight(s.calls, false)) // before the goroutines: a call in flight holds its caller's
	d.Goroutines = s.leakedGoroutines()
	for pid, p := range after.processes {
		if _, ok := s.processes[pid]; !ok && !accountedSince(pid, s.seq) {
			d.Processes = append(d.Processes, "+ "+Describe(p))
		}
	}
	d.FDs = s.newFDs(after)
	for path := range after.temp {
		if !s.temp[path] {
			d.TempFiles = append(d.TempFiles, "+ "+path)
		}
	}
	for k, v := range after.env {
		if slices.Contains(s.opts.ignoreEnv, k) {
			continue
		}
		if old, ok := s.env[k]; !ok {
			d.Env = append(d.Env, fmt.Sprintf("+ %s=%s", k, v))
		} else if old != v {
			d.Env = append(d.Env, fmt.Sprintf("~ %s: %q -> %q", k, old, v))
		}
	}
	for k := range s.env {
		if _, ok := after.env[k]; !ok && !slices.Contains(s.opts.ignoreEnv, k) {
			d.Env = append(d.Env, "- "+k)
		}
	}
	if s.python != nil && after.python != nil {
		d.python(s.python, after.python, &s.opts)
	}
	for _, lines := range [][]string{d.Processes, d.FDs, d.TempFiles, d.Env, d.Modules, d.Globals} {
		sort.Strings(lines)
	}
	return d
}

// newFDs returns the file descriptors open in after that were not in s:
// those a pool, zygote or warm host that ran before s was taken (or the
// binary's shared pool) holds for what it accounts for, a replacement of a
// crashed worker say, are left out; those an interpreter the test started
// holds are named by it.
func (s *Snapshot) newFDs(after *Snapshot) []string {
	var holders map[string]*ownership.Token
	var lines []string
	for fd, target := range after.fds {
		// The same fd: the same target and, for a pidfd, the same process
		// (or one that has ended since, whose pidfd then says -1).
		if before, ok := s.fds[fd]; ok && before == target && (s.pidfds[fd] == after.pidfds[fd] || after.pidfds[fd] < 0) {
			continue
		}
		if holders == nil {
			holders = ownership.Holders()
		}
		t := holders[target]
		if pid, ok := after.pidfds[fd]; ok {
			t = ancestorEntry(pid)
		}
		line := fmt.Sprintf("+ fd %d -> %s", fd, target)
		if pid, ok := after.pidfds[fd]; ok && t == nil {
			if pid > 0 {
				line += fmt.Sprintf(" (of pid %d)", pid)
			} else {
				line += " (of a process that has ended)"
			}
		}
		if t != nil {
			if accountedFor(t, s.seq) {
				continue
			}
			line += " (" + heldBy(t) + ")"
		}
		lines = append(lines, line)
	}
	return lines
}

// accountedFor reports whether what t holds is no test's since seq: t, or
// the pool or zygote owning it, ran before seq, or was started for the
// whole binary.
func accountedFor(t *ownership.Token, seq uint64) bool {
	r := t.Root()
	return r.Seq <= seq || r.Suite
}

// heldBy names the entry an fd is held for: "spawned worker ab12cd34, pid
// 4242, started at x_test.go:40".
func heldBy(t *ownership.Token) string {
	s := string(t.Kind) + " " + t.ID
	if t.Pid > 0 {
		s += fmt.Sprintf(", pid %d", t.Pid)
	}
	r := t.Root()
	if r != t {
		s += fmt.Sprintf(", of %s %s", r.Kind, r.ID)
	}
	switch {
	case t.Site != "":
		s += ", started at " + t.Site
	case r.Site != "":
		s += ", started at " + r.Site
	default:
		s += ", started by pyharness itself"
	}
	return s
}

// pidfdPids returns the pid each pidfd among fds refers to (its fdinfo's
// Pid; -1 once the process is gone).
func pidfdPids(fds map[int]string) map[int]int {
	pids := map[int]int{}
	for fd, target := range fds {
		if target != "anon_inode:[pidfd]" {
			continue
		}
		raw, err := os.ReadFile("/proc/self/fdinfo/" + strconv.Itoa(fd))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(raw), "\n") {
			if v, ok := strings.CutPrefix(line, "Pid:"); ok {
				if pid, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
					pids[fd] = pid
				}
			}
		}
	}
	return pids
}

// leakedGoroutines is goleak's check of the goroutines started since s,
// as the leak checks make it (Baseline.Check): pyharness's plumbing is not
// reported while an interpreter started since s runs, accounted for (a
// replacement of a crashed worker, a lazily started shared pool) or not
// (the test's own, which the diff names with its process and files), nor a
// pool's own machinery while a pool that ran before s does.
func (s *Snapshot) leakedGoroutines() error {
	started, pools := false, false
	for _, t := range ownership.Live() {
		started = started || t.Seq > s.seq
		pools = pools || t.Kind == ownership.Pool && accountedFor(t, s.seq)
	}
	excused := func(g stacks.Goroutine) bool { return started || pools && g.HasFrame(poolMachinery) }
	if quiet(s.ids, func(g stacks.Goroutine) bool { all, _ := g.Plumbing(); return !(all && excused(g)) }) {
		return nil
	}
	counts.GoroutineFinds.Add(1)
	found := goleak.Find(append(append(IgnoreGinkgo(), s.goroutines), s.opts.goroutines...)...)
	if found == nil {
		return nil
	}
	r := &Report{Title: "found unexpected goroutines", Leaks: goroutinesFrom(found, excused)}
	return r.err()
}

// python compares two states of one worker: the modules its handlers
// imported meanwhile (all new modules, from a worker that does not say
// which its handlers imported) and the globals of its handler modules.
func (d *Diff) python(before, after *PythonState, opts *snapshotOptions) {
	d.Worker = after.worker()
	if before.Pid > 0 && after.Pid > 0 && (before.Pid != after.Pid || before.WorkerID != after.WorkerID) {
		d.WorkerChanged = fmt.Sprintf("the state before came from %s, the state after from %s: watch one worker (a pool's Workers()[0], a fresh worker), not a pool",
			before.worker(), d.Worker)
		return
	}
	had, now := before.Modules, after.Modules
	if after.Imported != nil {
		had, now = before.Imported, after.Imported
	}
	seen := map[string]bool{}
	for _, m := range had {
		seen[m] = true
	}
	for _, m := range now {
		if !seen[m] && !opts.ignoredModule(m) {
			d.Modules = append(d.Modules, "+ "+m)
		}
	}
	for mod, globals := range after.Globals {
		was := before.Globals[mod]
		for name, fp := range globals {
			if old, ok := was[name]; !ok {
				d.Globals = append(d.Globals, fmt.Sprintf("+ %s.%s = %s", mod, name, fp))
			} else if old != fp {
				d.Globals = append(d.Globals, fmt.Sprintf("~ %s.%s: %s -> %s", mod, name, old, fp))
			}
		}
		for name := range was {
			if _, ok := globals[name]; !ok {
				d.Globals = append(d.Globals, fmt.Sprintf("- %s.%s", mod, name))
			}
		}
	}
}

// OpenFDs returns this process's open file descriptors and what they point to.
func OpenFDs() (map[int]string, error) {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil, fmt.Errorf("leak: list fds: %w", err)
	}
	fds := map[int]string{}
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil {
			continue // the fd of the directory listing itself, closed meanwhile
		}
		fds[fd] = target
	}
	return fds, nil
}

// Environ returns the environment as a map.
func Environ() map[string]string {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return env
}

// TempEntries returns the paths of the entries directly inside dirs.
func TempEntries(dirs ...string) map[string]bool {
	entries := map[string]bool{}
	for _, dir := range dirs {
		list, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range list {
			entries[filepath.Join(dir, e.Name())] = true
		}
	}
	return entries
}
