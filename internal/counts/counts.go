// Package counts holds what this process has started, for the summaries of
// harness and gotest: realpy counts, they read.
package counts

import "sync/atomic"

// WorkersSpawned counts the worker processes this process spawned: by
// realpy.Start, and by pools that spawn (forks from a zygote are not).
var WorkersSpawned atomic.Int64
