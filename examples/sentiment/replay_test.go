package sentiment_test

import (
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"example.com/sentiment"

	"github.com/pyharness/pyharness/isolation"
	"github.com/pyharness/pyharness/mockpy"
)

// The integration specs record what real Python answered
// (PYHARNESS_RECORD=1, harness.Record); these unit specs replay it, so the
// mock's answers are Python's own, and `PYHARNESS_RECORD=verify` in the
// integration run proves them against the handlers again.
func cassette(spec string) string {
	return filepath.Join("integration", "testdata", "cassettes", spec)
}

var _ = Describe("Classifier (unit, replaying real Python's answers)", func() {
	mode := isolation.Basic()

	It("labels reviews and counts them as the Python classifier did", func(ctx SpecContext) {
		Expect(mode.Mock().ReplayFile(cassette("classifier-integration-real-python-on-the-suite-s-shared-pool-watched-for-contamination-labels-r-ea90429f.jsonl"))).To(Succeed())
		c := sentiment.NewClassifier(mode.Mock())
		v, err := c.Classify(ctx, "Great phone, fast and nice")
		Expect(err).NotTo(HaveOccurred())
		Expect(v).To(Equal(sentiment.Verdict{Label: "positive", Score: 1}))
		counts, err := c.Summary(ctx, []string{"awful and slow", "love it", "it is a phone"})
		Expect(err).NotTo(HaveOccurred())
		Expect(counts).To(Equal(map[string]int{"negative": 1, "positive": 1, "neutral": 1}))
	})

	It("gets Python's own TypeError, traceback included", func(ctx SpecContext) {
		Expect(mode.Mock().ReplayFile(cassette("classifier-integration-real-python-on-a-private-worker-per-spec-reports-a-python-type-error-as-a-2392572e.jsonl"))).To(Succeed())
		err := mode.Mock().Call(ctx, "classify", map[string]int{"text": 3}, nil)
		Expect(err).To(MatchError(ContainSubstring("TypeError: text must be a string")))
		Expect(err.Error()).To(ContainSubstring("sentiment_handlers.py"))
	})

	It("streams the recorded explanation, asking the Go lexicon again about each word", func(ctx SpecContext) {
		Expect(mode.Mock().ReplayFile(cassette("classifier-integration-real-python-a-streamed-explanation-with-a-go-tool-streams-tokens-as-pytho-c258e015.jsonl"))).To(Succeed())
		asked := []string{}
		lexicon := func(word string) (string, error) {
			asked = append(asked, word)
			if word == "awful" {
				return "negative", nil
			}
			return "neutral", nil
		}
		var tokens []string
		for token, err := range sentiment.NewClassifier(mode.Mock()).Explain(ctx, "An awful phone", lexicon) {
			Expect(err).NotTo(HaveOccurred())
			tokens = append(tokens, token)
		}
		Expect(tokens).To(Equal([]string{"an:neutral", "awful:negative", "phone:neutral"}))
		Expect(asked).To(Equal([]string{"an", "awful", "phone"}))
		Expect(mode.Mock()).To(mockpy.HaveNoMismatches())
	})
})
