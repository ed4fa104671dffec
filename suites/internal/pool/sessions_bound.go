package pool

import (
	"context"
	"errors"
	"fmt"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/realpy"
	"github.com/pyharness/pyharness/wire"
)

// A pool's session routes are bounded (WithMaxSessions, DefaultMaxSessions):
// sessions that are never ended no longer grow the table without end; past
// the bound the least recently used route goes first.
var _ = describe("The session routes of a pool", harness.Integration, harness.PythonReal, func() {
	// hold starts a call on a free worker of p that lasts until the returned
	// release is called; it returns once the worker runs it.
	hold := func(ctx context.Context, p *realpy.Pool, session string) (release func()) {
		GinkgoHelper()
		started, free, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
		callCtx := wire.WithCallbacks(ctx, map[string]wire.Callback{
			"hold": wire.CallbackFunc(func(ctx context.Context, _ any) (any, error) {
				close(started)
				<-free
				return nil, nil
			}),
		})
		if session != "" {
			callCtx = wire.WithSession(callCtx, session)
		}
		go func() { done <- p.Call(callCtx, "hold", nil, nil) }()
		select {
		case <-started:
		case err := <-done:
			Fail(fmt.Sprintf("hold ended before it started: %v", err))
		}
		var once sync.Once
		release = func() {
			once.Do(func() {
				close(free)
				Expect(<-done).To(Succeed())
			})
		}
		DeferCleanup(release) // also when the spec fails before it releases
		return release
	}

	It("keeps at most WithMaxSessions routes, dropping the least recently used first", func(ctx SpecContext) {
		p := startPool(ctx, realpy.WithSize(2), realpy.WithAffinity(realpy.AffinityStrictFailFast),
			realpy.WithMaxSessions(4), realpy.WithModules("held"))
		echo := func(session string) error {
			return p.Call(wire.WithSession(ctx, session), "echo", session, nil)
		}

		By("routing s1..s6 to the one free worker, s1 used again after s4")
		releaseOther := hold(ctx, p, "")
		for _, s := range []string{"s1", "s2", "s3", "s4", "s1", "s5", "s6"} {
			Expect(echo(s)).To(Succeed())
			Expect(p.Sessions()).To(BeNumerically("<=", 4))
		}
		Expect(p.Sessions()).To(Equal(4))
		releaseOther()

		By("making that worker busy with s1's call: the routed sessions are refused, the evicted ones go to the other worker")
		releaseS1 := hold(ctx, p, "s1")
		for _, s := range []string{"s1", "s4", "s5", "s6"} {
			err := echo(s)
			Expect(errors.Is(err, realpy.ErrSessionBusy)).To(BeTrue(), "session %s is still routed: %v", s, err)
			Expect(err.Error()).To(ContainSubstring(fmt.Sprintf("session %q is bound to worker", s)))
		}
		for _, s := range []string{"s2", "s3"} {
			Expect(echo(s)).To(Succeed(), "session %s, the oldest, was evicted", s)
		}
		Expect(p.Sessions()).To(Equal(4))
		releaseS1()
	}, noHang)

	It("holds at most DefaultMaxSessions routes by default", func(ctx SpecContext) {
		p := startPool(ctx, realpy.WithSize(1))
		for i := range realpy.DefaultMaxSessions + 500 {
			Expect(p.Call(wire.WithSession(ctx, fmt.Sprintf("s-%d", i)), "echo", i, nil)).To(Succeed())
		}
		Expect(p.Sessions()).To(Equal(realpy.DefaultMaxSessions))
	}, noHang)
})
