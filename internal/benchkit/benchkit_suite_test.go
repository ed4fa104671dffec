package benchkit_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"go.uber.org/goleak"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/isolation/leak"
)

func TestBenchkit(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Benchkit Suite")
}

var baseline goleak.Option

var _ = BeforeSuite(func() { baseline = goleak.IgnoreCurrent() })
var _ = AfterSuite(func() { Expect(leak.FindLeakedGoroutines(baseline)).To(Succeed()) })

var _ = harness.SkipUnselectedIntegration()
