// Package counts holds what this process has started, for the summaries of
// harness and gotest: realpy counts, they read.
package counts

import "sync/atomic"

// WorkersSpawned counts the worker processes this process spawned: by
// realpy.Start, and by pools that spawn (forks from a zygote are not).
var WorkersSpawned atomic.Int64

// GoroutineFinds counts the goleak.Find calls of isolation/leak's checks:
// a check that can tell from one look that nothing is left to report makes
// none (and skips goleak's retries).
var GoroutineFinds atomic.Int64
