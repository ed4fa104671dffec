package container

import (
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
)

// WithLogger sends testcontainers' log lines (🐳 connected, ✅ started, the
// reaper's) to l: a Ginkgo suite passes one that writes to GinkgoWriter
// (harness/containerbackend does), so the lines show with a failing spec's
// output, or with -v. testcontainers writes some of them through its
// package-level logger, which Run therefore sets to l too, for the whole
// process. Without WithLogger, Run keeps testcontainers quiet (what goes
// wrong comes back as Run's error), unless the process has set
// testcontainers' logger itself.
func WithLogger(l tclog.Logger) Option { return func(o *options) { o.logger = l } }

// tcDefault is testcontainers' own logger (standard error), as it was
// before anyone set another.
var tcDefault = tclog.Default()

// applyLogger makes l testcontainers' logger, for the process and for the
// container request (first among the customizers, so theirs can log).
func applyLogger(l tclog.Logger, customizers []testcontainers.ContainerCustomizer) []testcontainers.ContainerCustomizer {
	if l == nil {
		if tclog.Default() != tcDefault {
			return customizers // the process chose a logger: keep it
		}
		l = tclog.NewNoopLogger()
	}
	tclog.SetDefault(l)
	return append([]testcontainers.ContainerCustomizer{testcontainers.WithLogger(l)}, customizers...)
}
