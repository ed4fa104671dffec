package realpy

import (
	"context"
	"fmt"
	"strings"

	"github.com/pyharness/pyharness/internal/ownership"
)

// track records w in the process-wide record of what realpy started
// (internal/ownership), owned by the owner ctx carries (a pool) or by the
// caller, until its process is reaped.
func (w *Worker) track(ctx context.Context, kind ownership.Kind) {
	ownership.Register(ownership.OwnerFrom(ctx), kind, w.id, w.HostPid(), ownership.Ops{
		Exited: w.proc.exited(),
		Kill:   func() { _ = w.Kill() },
		Close:  func() { _ = w.Close() },
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
