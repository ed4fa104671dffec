package harness

import (
	"io"

	. "github.com/onsi/ginkgo/v2"
)

// prefixedGinkgoWriter is where worker output goes: GinkgoWriter, which
// Ginkgo shows for failed specs (and with -v), never os.Stdout. realpy
// prefixes each line with the worker id and stream.
func prefixedGinkgoWriter() io.Writer { return GinkgoWriter }
