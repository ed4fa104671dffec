// Zygote: whether forking is safe, and what a fork does when it is not.

package realpy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/pyharness/pyharness/wire"
)

// forkVerdict is the zygote's answer to fork_safety (python/pyharness_worker/forksafe.py).
type forkVerdict struct {
	Safe        bool   `json:"safe"`
	Threads     int    `json:"threads"`
	Library     string `json:"library"`
	Path        string `json:"path"`
	Module      string `json:"module"`
	StartedBy   string `json:"started_by"`
	Kind        string `json:"kind"`
	Detail      string `json:"detail"`
	ThreadLimit string `json:"thread_limit"`
}

// safetyState is what a Zygote knows of its own fork safety.
type safetyState struct {
	mu      sync.Mutex
	checked bool
	unsafe  *ForkUnsafeError // nil: safe
	limits  ThreadLimits     // what the zygote's starter set
	warn    sync.Once
	// onUnsafe, set by a pool before its first fork, says it instead of
	// the zygote's own warning line.
	onUnsafe func(*ForkUnsafeError)
	// suspect: forks of this zygote hung or died on their first calls, so
	// every later fork is a spawn (set by a pool, pool_forksafe.go).
	suspect bool
}

// Fork modes of the fork request (PROTOCOL.md, Zygote).
const (
	modeFork      = "fork"      // refused (ForkUnsafe) when forking is not safe
	modeSpawn     = "spawn"     // a fresh interpreter, started by the zygote, in place of a fork
	modeUnchecked = "unchecked" // fork whatever the check says
)

// verdict asks the zygote, once (again after refresh), whether it can fork
// safely; nil when it can. A zygote that does not know the request (an
// older worker) is taken as it was before the check: safe.
func (z *Zygote) verdict(ctx context.Context, refresh bool) (*ForkUnsafeError, error) {
	s := &z.safety
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.checked && !refresh {
		return s.unsafe, nil
	}
	var v forkVerdict
	if err := z.ctl.Call(ctx, "fork_safety", nil, &v); err != nil {
		var pe *wire.PythonError
		if errors.As(err, &pe) && pe.Kind == wire.KindUnknownMethod {
			s.checked = true
			return nil, nil
		}
		return nil, z.forkError(fmt.Errorf("its fork-safety check: %w", err))
	}
	s.checked = true
	s.limits = parseThreadLimit(v.ThreadLimit)
	s.unsafe = nil
	if !v.Safe {
		s.unsafe = &ForkUnsafeError{Zygote: z.id, Library: v.Library, Kind: v.Kind, Path: v.Path, Module: v.Module,
			StartedBy: v.StartedBy, Threads: v.Threads, Detail: v.Detail}
	}
	return s.unsafe, nil
}

// forkMode is how the next fork is asked for, and whether it is a spawn in
// place of one; a *ForkUnsafeError under ForkStrict.
func (z *Zygote) forkMode(ctx context.Context, refresh bool) (string, error) {
	z.safety.mu.Lock()
	suspect := z.safety.suspect
	z.safety.mu.Unlock()
	if suspect {
		return modeSpawn, nil
	}
	unsafe, err := z.verdict(ctx, refresh)
	if err != nil {
		return "", err
	}
	if unsafe == nil {
		return modeFork, nil
	}
	switch z.cfg.fork.safety {
	case ForkStrict:
		return "", unsafe
	case ForkUnchecked:
		return modeUnchecked, nil
	}
	z.safety.warn.Do(func() {
		if z.safety.onUnsafe != nil {
			z.safety.onUnsafe(unsafe)
			return
		}
		warnLine(z.cfg.output, unsafeWarning(unsafe, "this zygote's forks"))
	})
	return modeSpawn, nil
}

// refusedUnsafe reports whether err is the zygote refusing a fork because
// forking became unsafe since the last check.
func refusedUnsafe(err error) bool {
	var pe *wire.PythonError
	return errors.As(err, &pe) && pe.Type == "ForkUnsafe"
}

// markSuspect makes every later fork of z a spawn.
func (z *Zygote) markSuspect() {
	z.safety.mu.Lock()
	z.safety.suspect = true
	z.safety.mu.Unlock()
}

// threadLimits returns what the zygote's starter set (after the first fork).
func (z *Zygote) threadLimits() ThreadLimits {
	z.safety.mu.Lock()
	defer z.safety.mu.Unlock()
	return z.safety.limits
}

func unsafeWarning(e *ForkUnsafeError, who string) string {
	return fmt.Sprintf("pyharness: warning: zygote %s cannot fork safely: %s; %s spawn fresh interpreters instead, which import the modules themselves "+
		"(realpy.WithForkSafety; what to do: docs/scientific-python.md)", e.Zygote, e.Detail, who)
}

// warnLine writes one warning line to w, or to stderr without one: never silently.
func warnLine(w io.Writer, line string) {
	if w == nil {
		w = os.Stderr
	}
	fmt.Fprintln(w, line)
}
