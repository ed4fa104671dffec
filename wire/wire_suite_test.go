// Every Ginkgo file of this package carries !pyharness_fuzz: ci/run fuzzes
// with -tags pyharness_fuzz, which builds the fuzz targets (fuzz_test.go,
// text_fuzz_test.go, helpers_test.go) without Ginkgo, Gomega and goleak:
// their coverage-instrumented build is a third of the whole package's.

//go:build !pyharness_fuzz

package wire_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"go.uber.org/goleak"

	"github.com/pyharness/pyharness/isolation/leak"
)

func TestWire(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Wire Suite")
}

var baseline goleak.Option

var _ = BeforeSuite(func() { baseline = goleak.IgnoreCurrent() })
var _ = AfterSuite(func() { Expect(leak.FindLeakedGoroutines(baseline)).To(Succeed()) })
