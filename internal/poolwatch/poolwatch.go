// Package poolwatch follows a realpy pool's events for the supervision
// helpers of package gotest (plain tests) and package isolation (Ginkgo):
// one adapter from realpy's events to internal/supervise's Watcher. Like
// internal/benchkit with package wire, it imports a public package, realpy;
// realpy does not import it.
package poolwatch

import (
	"github.com/pyharness/pyharness/internal/supervise"
	"github.com/pyharness/pyharness/realpy"
)

// Watch follows p's events from now on.
func Watch(p *realpy.Pool) *supervise.Watcher[realpy.Event] {
	sub := p.Subscribe()
	return supervise.Watch(supervise.Source[realpy.Event]{
		Events: sub.C,
		Close:  sub.Close,
		Size:   func() (int, int) { return p.Stats().Size, p.Size() },
		Replaced: func(e realpy.Event) (string, int, bool) {
			return e.Replaces, e.Pid, e.Kind == realpy.EventReplaced
		},
	})
}
