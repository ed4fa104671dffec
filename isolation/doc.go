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
// | mode | isolates | checks at teardown |
// |---|---|---|
// | Basic | a unique spec id, a mock interpreter per spec | every appended handler was consumed |
// | Registry | names and session ids carrying the spec id | nothing carrying the id is still registered, in Go or in Python |
// | SignalRouting | a per-spec stream of pool events | events of other specs never reach it |
// | FullIsolation | a fresh private worker per spec | the worker is gone |
// | ContaminationDetection | nothing: it watches | goroutines, processes, fds, temp files, env, Python modules and globals |
// | SupervisionTesting | kill, wait for restart, back to size | restart time-outs are errors |
// | PoolTesting | a private pool per Ordered container | torn down after the container's last spec |
//
// The checks themselves live in package leak and need no Ginkgo.
package isolation
