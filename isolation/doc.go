// Package isolation holds the seven isolation modes a spec container can
// pick. Each is called inside a container body, like a Ginkgo shared
// behaviour: it registers the setup (BeforeEach or BeforeAll) and teardown
// (DeferCleanup) of every spec in the container, and returns a handle the
// specs use. Every check fails the spec; none only warns.
//
//	var _ = Describe("cart", func() {
//		mode := isolation.ContaminationDetection(func() pyharness.Caller { return worker })
//		It("adds an item", func(ctx SpecContext) { ... })
//	})
//
// The modes, what each gives a spec, and what fails it:
//
//   - [Basic]: a unique spec id and its own mockpy interpreter; fails when
//     an appended handler was never consumed, or a call on the mock is
//     still in flight when the spec ends.
//   - [Registry]: names and session ids carrying the spec id; fails when a
//     name is still registered, or a Python session of the spec still holds
//     state.
//   - [SignalRouting]: the events of the workers it watches, and of their
//     replacements, only; events of other specs never reach it.
//   - [FullIsolation]: a brand-new private worker (Pool.Fresh); fails when
//     the worker outlives the spec, and attaches its stderr to a failed
//     spec's report.
//   - [ContaminationDetection]: before and after snapshots; fails when
//     goroutines, processes, open fds, temp files, environment variables,
//     Python modules or module globals changed, with a readable diff.
//   - [SupervisionTesting]: KillWorker, WaitForRestart (event-driven) and
//     BackToSize; a restart that does not happen before the context ends is
//     an error, never swallowed.
//   - [PoolTesting]: a private pool per Ordered container; fails when a
//     worker outlives the container.
//
// [VerifyNoLeaks] registers the goroutine, process and call checks of a
// whole suite (a call still in flight when a spec ends is its leak). The checks themselves live in package isolation/leak and need no
// Ginkgo.
package isolation
