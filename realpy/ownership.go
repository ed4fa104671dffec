package realpy

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/pyharness/pyharness/internal/ownership"
)

// track records w in the process-wide record of what realpy started
// (internal/ownership), owned by the owner ctx carries (a pool) or by the
// caller, until its process is reaped, with the files it holds open here.
func (w *Worker) track(ctx context.Context, kind ownership.Kind) {
	ownership.Register(ownership.OwnerFrom(ctx), kind, w.id, w.HostPid(), ownership.Ops{
		Exited: w.proc.exited(),
		Kill:   func() { _ = w.Kill() },
		Close:  func() { _ = w.Close() },
		Files:  w.files(),
	})
}

// files returns what w holds open in this process, as /proc/self/fd names
// it: its protocol and liveness sockets and the read ends of the pipes its
// stdout and stderr come through (os/exec's for a spawned worker, the same
// pipes as the child's fds 1 and 2; ours for a forked one). Read once, as
// it starts: the contamination checks tell its files from a test's by them.
func (w *Worker) files() []string {
	var files []string
	add := func(c any) {
		if sc, ok := c.(syscall.Conn); ok {
			if f := ownership.FileOf(sc); f != "" {
				files = append(files, f)
			}
		}
	}
	add(w.client.conn)
	if w.alive != nil {
		add(w.alive.conn)
	}
	switch p := w.proc.(type) {
	case *spawnedProcess:
		for _, fd := range []string{"1", "2"} {
			if f, err := os.Readlink("/proc/" + strconv.Itoa(p.pid()) + "/fd/" + fd); err == nil && strings.HasPrefix(f, "pipe:") {
				files = append(files, f)
			}
		}
	case *forkedProcess:
		for _, r := range p.readers {
			add(r)
		}
	}
	return files
}

// track records an attached zygote's control connection, owned by the
// owner ctx carries (a pool) or by the caller, until it is closed.
func (z *Zygote) track(ctx context.Context) {
	var files []string
	if sc, ok := z.ctl.conn.(syscall.Conn); ok {
		if f := ownership.FileOf(sc); f != "" {
			files = append(files, f)
		}
	}
	ownership.Register(ownership.OwnerFrom(ctx), ownership.ZygoteConn, z.id, 0, ownership.Ops{
		Exited: z.ctl.dead,
		Close:  func() { _ = z.Close() },
		Detail: func() string { return fmt.Sprintf("to zygote %s, pid %d", z.name, z.pid) },
		Files:  files,
	})
}

// track records the pool, which owns its zygote and members, until it closes.
func (p *Pool) track(ctx context.Context) {
	p.own = ownership.Register(ownership.OwnerFrom(ctx), ownership.Pool, p.cfg.runID, 0, ownership.Ops{
		Exited: p.closing,
		Close:  func() { _ = p.Close() },
		Detail: p.describe,
	})
}

// describe says what the pool runs, for a leak report.
func (p *Pool) describe() string {
	ws := p.Workers()
	names := make([]string, len(ws))
	for i, w := range ws {
		names[i] = fmt.Sprintf("%s pid %d", w.ID(), w.HostPid())
	}
	s := fmt.Sprintf("%s, %d of %d workers", p.cfg.strategy, len(ws), p.cfg.size)
	if len(names) > 0 {
		s += ": " + strings.Join(names, ", ")
	}
	if z := p.Zygote(); z != nil && !z.Attached() {
		s += fmt.Sprintf("; zygote %s pid %d", z.ID(), z.Pid())
	}
	return s
}
