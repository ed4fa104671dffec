package containerbackend

import (
	"fmt"
	"strings"

	"github.com/onsi/ginkgo/v2"
	tclog "github.com/testcontainers/testcontainers-go/log"
)

// ginkgoLogger writes testcontainers' log lines to GinkgoWriter, one line
// each, prefixed: they show with a failing spec's output (or with -v)
// instead of in every run's.
type ginkgoLogger struct{}

func (ginkgoLogger) Printf(format string, v ...any) {
	fmt.Fprintln(ginkgo.GinkgoWriter, "testcontainers: "+strings.TrimRight(fmt.Sprintf(format, v...), "\n"))
}

// logger is where the container backend sends testcontainers' log lines.
var logger tclog.Logger = ginkgoLogger{}

func init() {
	// testcontainers logs some lines (the Docker connection, the reaper)
	// through its package logger before any container is asked for.
	tclog.SetDefault(logger)
}
