package sentiment_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/isolation"
)

// The unit suite: the classifier on a mock interpreter, no Python started.
// The integration specs are in ./integration.
func TestSentiment(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Sentiment Suite")
}

// No goroutine is left behind by a spec, nor by the suite.
var _ = isolation.VerifyNoLeaks()
