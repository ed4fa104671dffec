package failfmt_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"go.uber.org/goleak"

	"github.com/pyharness/pyharness/isolation/leak"
)

func TestFailfmt(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Failfmt Suite")
}

var baseline goleak.Option

var _ = BeforeSuite(func() { baseline = goleak.IgnoreCurrent() })
var _ = AfterSuite(func() { Expect(leak.FindLeakedGoroutines(baseline)).To(Succeed()) })
