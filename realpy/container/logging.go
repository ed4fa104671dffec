package container

import (
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
)

// WithLogger sends testcontainers' log lines (🐳 connected, ✅ started, the
// reaper's) to l instead of standard error: a Ginkgo suite passes one that
// writes to GinkgoWriter (harness/containerbackend does), so the lines
// show with a failing spec's output, or with -v, and not in every run's.
// testcontainers writes some of them through its package-level logger,
// which Run therefore sets to l too, for the whole process.
func WithLogger(l tclog.Logger) Option { return func(o *options) { o.logger = l } }

// applyLogger makes l testcontainers' logger, for the process and for the
// container request (first among the customizers, so theirs can log).
func applyLogger(l tclog.Logger, customizers []testcontainers.ContainerCustomizer) []testcontainers.ContainerCustomizer {
	if l == nil {
		return customizers
	}
	tclog.SetDefault(l)
	return append([]testcontainers.ContainerCustomizer{testcontainers.WithLogger(l)}, customizers...)
}
