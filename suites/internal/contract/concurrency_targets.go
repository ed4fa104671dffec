package contract

import (
	"github.com/pyharness/pyharness/harness/contract"
	"github.com/pyharness/pyharness/realpy"
)

// realConcurrency returns the options that make a real worker (and realpy's
// client over the wire fake) serve contract.Concurrency calls at once.
// Every target of concurrent.go registers contract.ConcurrencyBehaviours
// with them: the wire fake, a real worker, both real pools and the
// container.
func realConcurrency() ([]realpy.Option, bool) {
	return []realpy.Option{realpy.WithConcurrency(contract.Concurrency)}, true
}
