package integration_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"example.com/sentiment"

	"github.com/pyharness/pyharness"
	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/isolation"
	"github.com/pyharness/pyharness/realpy"
)

var _ = Describe("Classifier (integration, real Python)", harness.Integration, func() {
	Describe("on the suite's shared pool, watched for contamination", func() {
		isolation.ContaminationDetection(func() pyharness.Caller { return python.Pool().Workers()[0] })

		It("labels reviews with the Python classifier", func(ctx SpecContext) {
			c := sentiment.NewClassifier(harness.Record(python.Pool().Workers()[0])) // PYHARNESS_RECORD=1 records a cassette
			v, err := c.Classify(ctx, "Great phone, fast and nice")
			Expect(err).NotTo(HaveOccurred())
			Expect(v.Label).To(Equal("positive"))
			Expect(v.Score).To(BeNumerically("==", 1))

			counts, err := c.Summary(ctx, []string{"awful and slow", "love it", "it is a phone"})
			Expect(err).NotTo(HaveOccurred())
			Expect(counts).To(Equal(map[string]int{"negative": 1, "positive": 1, "neutral": 1}))
		}, SpecTimeout(time.Minute))
	})

	Describe("a streamed explanation with a Go tool", func() {
		It("streams tokens as Python makes them, each asking the Go lexicon", func(ctx SpecContext) {
			asked := []string{}
			lexicon := func(word string) (string, error) {
				asked = append(asked, word)
				if word == "awful" {
					return "negative", nil
				}
				return "neutral", nil
			}
			var tokens []string
			for token, err := range sentiment.NewClassifier(harness.Record(python.Pool())).Explain(ctx, "An awful phone", lexicon) {
				Expect(err).NotTo(HaveOccurred())
				tokens = append(tokens, token)
			}
			Expect(tokens).To(Equal([]string{"an:neutral", "awful:negative", "phone:neutral"}))
			Expect(asked).To(Equal([]string{"an", "awful", "phone"}), "one tool call per token, in order")
		}, SpecTimeout(time.Minute))
	})

	Describe("on a private worker per spec", func() {
		mode := isolation.FullIsolation(func() *realpy.Pool { return python.Pool() })

		It("reports a Python type error as an error of the call, and the worker lives on", func(ctx SpecContext) {
			py := harness.Record(mode.Worker())
			err := py.Call(ctx, "classify", map[string]int{"text": 3}, nil)
			Expect(err).To(MatchError(ContainSubstring("TypeError")))
			v, err := sentiment.NewClassifier(py).Classify(ctx, "bad")
			Expect(err).NotTo(HaveOccurred())
			Expect(v.Label).To(Equal("negative"))
		}, SpecTimeout(time.Minute))
	})

	Describe("when a worker crashes", func() {
		supervision := isolation.SupervisionTesting(func() *realpy.Pool { return python.Pool() })

		It("is unavailable on the dead worker, and the pool heals", func(ctx SpecContext) {
			victim := python.Pool().Workers()[0]
			old := supervision.KillWorker(victim)
			Eventually(victim.Exited()).Should(BeClosed())
			_, err := sentiment.NewClassifier(victim).Classify(ctx, "great")
			Expect(err).To(MatchError(sentiment.ErrUnavailable))

			restartCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			pid, err := supervision.WaitForRestart(restartCtx, old)
			Expect(err).NotTo(HaveOccurred())
			Expect(pid).NotTo(Equal(victim.Pid()))
			Expect(supervision.BackToSize(restartCtx)).To(Succeed())

			v, err := sentiment.NewClassifier(python.Pool()).Classify(ctx, "great")
			Expect(err).NotTo(HaveOccurred())
			Expect(v.Label).To(Equal("positive"))
		}, SpecTimeout(time.Minute))
	})
})
