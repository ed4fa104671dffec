// Zygote: one forked worker process: its output, exit status and signals.

package realpy

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pyharness/pyharness/internal/proc"
	"golang.org/x/sys/unix"
)

// waitGone waits up to d for a process that is not our child to end,
// killing it if it does not. A pidfd becomes readable when the process ends.
func waitGone(pid int, d time.Duration) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return // already gone
	}
	defer unix.Close(fd)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, int(d.Milliseconds()))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if n == 0 {
			_ = unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
			_, _ = unix.Poll(fds, int(d.Milliseconds()))
		}
		return
	}
}

// forkedProcess is a worker forked by a zygote: not our child, so its exit
// is learned from the zygote (a wait request answered once it is reaped),
// and signals go through the zygote.
type forkedProcess struct {
	z        *Zygote
	id       atomic.Int64
	once     sync.Once
	out, err *Output
	readers  []*os.File     // read ends of the worker's stdout and stderr pipes
	copies   sync.WaitGroup // copying them into out and err
	exitedC  chan struct{}
	doneC    chan struct{}
	code     int
	sig      syscall.Signal
	gone     atomic.Bool
	killed   atomic.Bool // pyharness sent it SIGKILL
	hostOnce sync.Once
	host     int
	handle   *proc.Handle // where the process is visible from here

	forgetOnce sync.Once
	forgetC    chan struct{}

	spawned bool // a fresh interpreter the zygote spawned in place of a fork (zygote_safety.go)
}

// capture makes the pipes the worker's stdout and stderr will go to, starts
// copying them into out and err (and the WithOutput writer), and returns
// their write ends.
func (p *forkedProcess) capture(id string) (outW, errW *os.File, err error) {
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, nil, err
	}
	p.readers = []*os.File{outR, errR}
	for i, r := range p.readers {
		var dst io.Writer = p.out
		stream := "stdout"
		if i == 1 {
			dst, stream = p.err, "stderr"
		}
		if p.z.cfg.output != nil {
			dst = io.MultiWriter(dst, prefixed(p.z.cfg.output, "["+id+" "+stream+"] "))
		}
		p.copies.Add(1)
		go func() {
			defer p.copies.Done()
			_, _ = io.Copy(dst, r)
		}()
	}
	return outW, errW, nil
}

// drain waits for the output copies to reach EOF (bounded: a grandchild may
// hold the pipes), then closes the read ends.
func (p *forkedProcess) drain() {
	done := make(chan struct{})
	go func() {
		p.copies.Wait()
		close(done)
	}()
	timer := time.NewTimer(p.z.cfg.grace)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		for _, r := range p.readers {
			r.Close() // unblocks the copies
		}
		<-done
	}
	for _, r := range p.readers {
		r.Close()
	}
}

// start begins watching the forked process with the given pid: through
// the zygote's answer to a wait request, which carries its exit status, and,
// where the process is visible from here, through a pidfd, which tells its
// end even when the zygote cannot answer (stopped, a paused container).
func (p *forkedProcess) start(pid int) {
	p.id.Store(int64(pid))
	p.z.mu.Lock()
	p.z.children[pid] = p
	p.z.mu.Unlock()
	if host := p.hostPid(); host > 0 {
		if h, err := proc.Open(host); err == nil {
			p.handle = h
		}
	}
	// Both goroutines start before the fork returns, so a snapshot of the
	// goroutines taken after it (a contamination check) sees them both.
	p.z.watchers.Add(1)
	ctx, cancel := context.WithCancel(context.Background())
	reply := make(chan waitResult, 1)
	go func() {
		var st waitStatus
		err := p.z.ctl.Call(ctx, "wait", map[string]int{"pid": pid}, &st)
		reply <- waitResult{st, err}
	}()
	go p.watch(pid, reply, cancel)
}

type waitResult struct {
	st  waitStatus
	err error
}

// abandon ends a forked process whose fork request failed: if a child was
// forked at all, it reads EOF on its connection and exits.
func (p *forkedProcess) abandon() {
	p.once.Do(func() {
		p.closeReaders() // no worker answered: its output, if any, is not waited for
		p.code = -1
		p.finish()
		close(p.doneC)
	})
}

// exitReportWait bounds how long, once a forked worker is seen gone (its
// pidfd), its exit status is waited for from the zygote, which normally
// reports it at once; a zygote that does not (stopped, in a paused
// container) leaves the status unknown after it.
const exitReportWait = 250 * time.Millisecond

type waitStatus struct {
	Code   int `json:"code"`
	Signal int `json:"signal"`
}

// watch learns how the process ended: from the zygote's answer to the wait
// call on reply (cancel ends that call), or from its pidfd.
func (p *forkedProcess) watch(pid int, reply <-chan waitResult, cancel context.CancelFunc) {
	defer p.z.watchers.Done()
	defer close(p.doneC)
	defer cancel()

	var gone <-chan struct{}
	if p.handle != nil {
		gone = p.handle.Gone()
	}
	var st waitStatus
	known, answered := false, false
	take := func(r waitResult) {
		answered = true
		if r.err == nil {
			st, known = r.st, true
		}
	}
	forgotten := false
	select {
	case r := <-reply:
		take(r)
	case <-gone:
		timer := time.NewTimer(exitReportWait)
		select {
		case r := <-reply:
			take(r)
		case <-timer.C:
		}
		timer.Stop()
	case <-p.forgetC:
		forgotten = true
	}
	cancel()
	if !known {
		// The zygote is gone, or does not answer. Its children die with it
		// (PR_SET_PDEATHSIG); one we can see is waited for, bounded, unless
		// Close already gave up on it (frozen in a paused container: it ends
		// with the container).
		if p.handle != nil && !forgotten {
			waitGone(p.handle.Pid(), p.z.cfg.grace)
		}
		st = waitStatus{Code: -1}
		if p.killed.Load() {
			st = waitStatus{Code: 128 + int(syscall.SIGKILL), Signal: int(syscall.SIGKILL)}
		}
	}
	p.z.mu.Lock()
	delete(p.z.children, pid)
	p.z.mu.Unlock()
	if p.handle != nil {
		p.handle.Close()
	}
	p.code, p.sig = st.Code, syscall.Signal(st.Signal)
	if forgotten {
		p.closeReaders() // a frozen worker holds its pipes: do not wait for EOF
	}
	p.finish()
	if !answered {
		<-reply // the wait call ends with ctx
	}
}

// forget stops waiting to learn how the process ended: Worker.Close gives up
// on a zygote that does not answer. The process is taken for gone.
func (p *forkedProcess) forget() {
	p.forgetOnce.Do(func() { close(p.forgetC) })
}

// closeReaders ends the output copies now.
func (p *forkedProcess) closeReaders() {
	for _, r := range p.readers {
		r.Close()
	}
}

func (p *forkedProcess) finish() {
	p.gone.Store(true)
	p.drain()
	p.out.Close()
	p.err.Close()
	close(p.exitedC)
}

func (p *forkedProcess) pid() int { return int(p.id.Load()) }

func (p *forkedProcess) hostPid() int {
	if p.z.owner != nil {
		return p.pid() // forked by our own zygote: same namespace
	}
	p.hostOnce.Do(func() {
		parent := p.z.HostPid()
		if parent == 0 {
			return
		}
		if parent == p.z.pid { // the zygote shares our pid namespace
			if st, ok := proc.ReadStat(p.pid()); ok && st.PPid == parent {
				p.host = p.pid()
			}
			return
		}
		p.host = findHostPid(p.pid(), func(st proc.Stat) bool { return st.PPid == parent })
	})
	return p.host
}

func (p *forkedProcess) exited() <-chan struct{} { return p.exitedC }

func (p *forkedProcess) done() <-chan struct{} { return p.doneC }

func (p *forkedProcess) stdout() *Output { return p.out }

func (p *forkedProcess) stderr() *Output { return p.err }

func (p *forkedProcess) status() (int, syscall.Signal) { return p.code, p.sig }

func (p *forkedProcess) signal(sig syscall.Signal) error {
	if p.pid() == 0 {
		p.abandon() // the fork request failed before the child said who it is
		return nil
	}
	if p.gone.Load() {
		return nil
	}
	if sig == syscall.SIGKILL {
		p.killed.Store(true)
	}
	if p.killDirectly(sig) {
		return nil
	}
	return p.zygoteKill(sig)
}

// killDirectly signals the worker and its process group from here, where
// it is visible and ours to signal: at once, whatever state the zygote is
// in. It reports whether it could.
func (p *forkedProcess) killDirectly(sig syscall.Signal) bool {
	if p.handle == nil || p.handle.Signal(sig) != nil {
		return false
	}
	if err := syscall.Kill(-p.handle.Pid(), sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		p.z.watchers.Add(1)
		go func() { // its group through the zygote, for what the worker started (bounded)
			defer p.z.watchers.Done()
			_ = p.zygoteKill(sig)
		}()
	}
	return true
}

// zygoteKill asks the zygote to signal the worker's process group, bounded
// by the grace period.
func (p *forkedProcess) zygoteKill(sig syscall.Signal) error {
	ctx, cancel := context.WithTimeout(context.Background(), p.z.cfg.grace)
	defer cancel()
	err := p.z.ctl.Call(ctx, "kill", map[string]int{"pid": p.pid(), "signal": int(sig)}, nil)
	if err != nil && p.z.ctl.Err() == nil && ctx.Err() == nil {
		return err
	}
	return nil // a dead zygote took its children with it; a stuck one is waited out by Close
}
