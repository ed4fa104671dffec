package contract

import (
	"github.com/pyharness/pyharness/realpy"
)

// The real-Python half of the concurrency contract (issue 26) lands with
// realpy.WithConcurrency, on another branch: until then this file says
// "not yet", and the concurrency behaviours run on the mock and on the
// wire fake only where realpy's client can multiplex.
//
// TODO(merge, issue 26): once realpy.WithConcurrency exists and realpy's
// client keeps up to n requests in flight on a peer that lists
// "multiplex", make this
//
//	return []realpy.Option{realpy.WithConcurrency(contract.Concurrency)}, true
//
// (and import harness/contract here). Every target of concurrent.go then
// registers contract.ConcurrencyBehaviours: the wire fake, a real worker,
// both real pools and the container.

// realConcurrency returns the options that make a real worker (and realpy's
// client) serve contract.Concurrency calls at once, and whether realpy has
// them yet.
func realConcurrency() ([]realpy.Option, bool) { return nil, false }
