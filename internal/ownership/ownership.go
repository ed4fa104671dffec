// Package ownership is a process-wide record of what realpy started: each
// interpreter (spawned worker, forked worker, zygote), each connection to
// a zygote another process runs, and each pool, with its worker id, pid,
// owner (the pool or zygote that accounts for it, or none: the caller's),
// start site (the first stack frame outside pyharness) and the files it
// holds open in this process. Entries end when their process is reaped
// (their connection closed, their pool closed). The leak and contamination
// checks of isolation/leak read it to tell what a test left running, or
// open, from what a pool owns.
package ownership

import (
	"cmp"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// Kind says what an entry is.
type Kind string

// The kinds of entries.
const (
	SpawnedWorker Kind = "spawned worker"
	ForkedWorker  Kind = "forked worker"
	Zygote        Kind = "zygote"
	Pool          Kind = "pool"
	// ZygoteConn is a control connection to a zygote another process runs
	// (a warm host): no process of ours, only a socket.
	ZygoteConn Kind = "zygote connection"
)

// Ops is how an entry is described, watched and ended.
type Ops struct {
	Exited <-chan struct{} // closed once the process is reaped (the pool closed)
	Kill   func()          // ends it at once (may be nil)
	Close  func()          // ends it and waits until its goroutines have (may be nil)
	Detail func() string   // more to say about it (may be nil), e.g. a pool's workers
	// Files are the files it holds open in this process, as /proc/self/fd
	// names their targets ("socket:[123]", "pipe:[456]"): its sockets, the
	// pipes its output comes through. A pidfd is told by its pid instead.
	Files []string
}

// Token is one entry.
type Token struct {
	Kind     Kind
	ID       string
	Pid      int    // in this pid namespace; 0 for a pool, or when not visible from here
	Site     string // file:line of the first frame outside pyharness, "" when there is none
	Func     string // the function at Site
	Suite    bool   // started on behalf of the whole test binary (a lazily started shared pool)
	Seq      uint64 // registration order
	Owner    *Token // who accounts for it; nil: the code that started it
	ops      Ops
	released atomic.Bool
}

var (
	mu      sync.Mutex
	live    = map[*Token]struct{}{}
	counter atomic.Uint64
)

type ownerKey struct{}

// WithOwner returns ctx carrying owner: what starts under it is owner's.
func WithOwner(ctx context.Context, owner *Token) context.Context {
	if owner == nil {
		return ctx
	}
	return context.WithValue(ctx, ownerKey{}, owner)
}

// OwnerFrom returns the owner ctx carries, nil if none.
func OwnerFrom(ctx context.Context) *Token {
	t, _ := ctx.Value(ownerKey{}).(*Token)
	return t
}

// suiteStarters are functions that start what belongs to the whole test
// binary, not to the test that happens to ask first.
var suiteStarters = []string{
	"github.com/pyharness/pyharness/gotest.(*binary).sharedPool",
}

// module is the import path of pyharness; its library packages (not its
// suites and examples) are never a start site.
const module = "github.com/pyharness/pyharness"

var libraryPackages = []string{"realpy", "wire", "mockpy", "isolation", "harness", "gotest", "internal"}

// Library reports whether fn (a function name as runtime reports it) is
// pyharness's own library code.
func Library(fn string) bool {
	rest, ok := strings.CutPrefix(fn, module)
	if !ok {
		return false
	}
	if strings.HasPrefix(rest, ".") {
		return true // the root package
	}
	rest = strings.TrimPrefix(rest, "/")
	for _, p := range libraryPackages {
		if strings.HasPrefix(rest, p+".") || strings.HasPrefix(rest, p+"/") {
			return true
		}
	}
	return false
}

// Stdlib reports whether the function fn, in file (as a stack frame names
// them; file may be ""), belongs to the standard library: its file is under
// GOROOT's src, or, where that cannot tell (-trimpath, no file), the first
// element of its import path has no dot and it is not package main.
func Stdlib(fn, file string) bool {
	if file != "" && filepath.IsAbs(file) {
		if root := goroot(); root != "" {
			return strings.HasPrefix(file, root)
		}
	}
	if first, _, ok := strings.Cut(fn, "/"); ok {
		return !strings.Contains(first, ".")
	}
	pkg, _, _ := strings.Cut(fn, ".")
	return pkg != "main"
}

// goroot is where the standard library's sources were when this binary
// was built, with a trailing separator: the directory of runtime.Callers'
// own file. "" when the binary does not say (-trimpath).
var goroot = sync.OnceValue(func() string {
	var pcs [1]uintptr
	if runtime.Callers(0, pcs[:]) == 0 {
		return ""
	}
	f, _ := runtime.CallersFrames(pcs[:]).Next()
	root, ok := strings.CutSuffix(f.File, "runtime/extern.go")
	if !ok || !filepath.IsAbs(root) {
		return ""
	}
	return root
})

// framework reports whether fn is a test framework's: never a start site.
func framework(fn string) bool {
	return strings.HasPrefix(fn, "github.com/onsi/") || strings.HasPrefix(fn, "go.uber.org/goleak")
}

// Register records an entry started now by the calling goroutine: its
// start site is the first frame of the call stack outside pyharness.
func Register(owner *Token, kind Kind, id string, pid int, ops Ops) *Token {
	t := &Token{Kind: kind, ID: id, Pid: pid, Owner: owner, ops: ops, Seq: counter.Add(1)}
	var pcs [64]uintptr
	n := runtime.Callers(2, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		if slices.Contains(suiteStarters, f.Function) {
			t.Suite = true
		}
		if t.Site == "" && f.Function != "" && !Library(f.Function) && !Stdlib(f.Function, f.File) && !framework(f.Function) {
			t.Site, t.Func = f.File+":"+strconv.Itoa(f.Line), f.Function
		}
		if !more {
			break
		}
	}
	mu.Lock()
	pruneLocked()
	live[t] = struct{}{}
	mu.Unlock()
	return t
}

// Release ends the entry (idempotent; nil does nothing).
func (t *Token) Release() {
	if t == nil {
		return
	}
	t.released.Store(true)
}

// Gone reports whether the entry has ended.
func (t *Token) Gone() bool {
	if t.released.Load() {
		return true
	}
	if t.ops.Exited != nil {
		select {
		case <-t.ops.Exited:
			return true
		default:
		}
	}
	return false
}

// Files returns the files the entry holds open in this process (Ops.Files).
func (t *Token) Files() []string { return t.ops.Files }

// Exited returns the entry's exit channel (nil if it has none).
func (t *Token) Exited() <-chan struct{} { return t.ops.Exited }

// Detail returns what more there is to say about the entry.
func (t *Token) Detail() string {
	if t.ops.Detail == nil {
		return ""
	}
	return t.ops.Detail()
}

// End kills the entry and waits until it and its goroutines are gone.
func (t *Token) End() {
	if t.ops.Kill != nil {
		t.ops.Kill()
	}
	if t.ops.Close != nil {
		t.ops.Close()
	}
}

// Root returns the live owner at the top of t's chain: t itself when it has
// no owner, or when its owner has ended (an orphan is its own root).
func (t *Token) Root() *Token {
	r := t
	for r.Owner != nil && !r.Owner.Gone() {
		r = r.Owner
	}
	return r
}

func pruneLocked() {
	for t := range live {
		if t.Gone() {
			delete(live, t)
		}
	}
}

// Seq returns the number of the last registration: a baseline for Since.
func Seq() uint64 { return counter.Load() }

// Live returns the entries not ended, in registration order.
func Live() []*Token {
	mu.Lock()
	pruneLocked()
	ts := make([]*Token, 0, len(live))
	for t := range live {
		ts = append(ts, t)
	}
	mu.Unlock()
	slices.SortFunc(ts, func(a, b *Token) int { return cmp.Compare(a.Seq, b.Seq) })
	return ts
}

// ByPid returns the live entry of the process pid, nil if none.
func ByPid(pid int) *Token {
	if pid <= 0 {
		return nil
	}
	for _, t := range Live() {
		if t.Pid == pid {
			return t
		}
	}
	return nil
}

// Holders returns the live entries by the files they hold open (Ops.Files).
func Holders() map[string]*Token {
	m := map[string]*Token{}
	for _, t := range Live() {
		for _, f := range t.ops.Files {
			m[f] = t
		}
	}
	return m
}

// FileOf returns what /proc/self/fd names the file of c ("socket:[123]"),
// "" when c has no file descriptor here. It does not change the file's
// mode (os.File.Fd would make it blocking).
func FileOf(c syscall.Conn) string {
	rc, err := c.SyscallConn()
	if err != nil {
		return ""
	}
	target := ""
	_ = rc.Control(func(fd uintptr) {
		target, _ = os.Readlink("/proc/self/fd/" + strconv.Itoa(int(fd)))
	})
	return target
}

// Children returns the live entries t owns directly.
func Children(t *Token) []*Token {
	var cs []*Token
	for _, c := range Live() {
		if c.Owner == t {
			cs = append(cs, c)
		}
	}
	return cs
}
