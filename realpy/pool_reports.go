// Pool: what healing reports to the checkout queue. Dependencies between
// the pool's files flow one way: the checkout (pool_checkout.go,
// pool_lazy.go) starts members through healing (pool_heal.go); healing
// calls nothing of the checkout, and reports through healReports instead.

package realpy

// healReports is what healing tells the checkout queue, under p.mu.
type healReports interface {
	// memberReadyLocked offers a member that just started (a replacement)
	// to the first waiter that may take it.
	memberReadyLocked(m *member)
	// poolChangedLocked wakes the waiters to look at the pool again: a
	// start failed, a worker died.
	poolChangedLocked()
}

// checkoutReports is the checkout queue's side of healReports.
type checkoutReports struct{ p *Pool }

func (r checkoutReports) memberReadyLocked(m *member) { r.p.offerLocked(m) }
func (r checkoutReports) poolChangedLocked()          { r.p.notifyLocked() }
