package realpy

import "github.com/pyharness/pyharness/internal/supervise"

// watchPool follows p's events from now on, for the supervision helpers of
// packages gotest and isolation (reached through internal/realpyx, so that
// nothing under internal/ imports realpy).
func watchPool(p *Pool) *supervise.Watcher[Event] {
	sub := p.Subscribe()
	return supervise.Watch(supervise.Source[Event]{
		Events: sub.C,
		Close:  sub.Close,
		Size:   func() (int, int) { return p.Stats().Size, p.Size() },
		Replaced: func(e Event) (string, int, bool) {
			return e.Replaces, e.Pid, e.Kind == EventReplaced
		},
	})
}
