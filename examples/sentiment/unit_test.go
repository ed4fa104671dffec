package sentiment_test

import (
	"context"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"example.com/sentiment"

	"github.com/pyharness/pyharness/isolation"
	"github.com/pyharness/pyharness/mockpy"
)

var _ = Describe("Classifier (unit, mocked Python)", func() {
	mode := isolation.Basic()

	It("returns what Python answers", func(ctx SpecContext) {
		mode.Mock().RouteToHandler("classify", mockpy.Respond(map[string]any{"label": "positive", "score": 0.9}))
		v, err := sentiment.NewClassifier(mode.Mock()).Classify(ctx, "  great phone ")
		Expect(err).NotTo(HaveOccurred())
		Expect(v).To(Equal(sentiment.Verdict{Label: "positive", Score: 0.9}))
		Expect(mode.Mock()).To(mockpy.HaveReceived("classify", mockpy.WithArgs(map[string]string{"text": "great phone"})))
	})

	It("does not call Python for an empty text", func(ctx SpecContext) {
		_, err := sentiment.NewClassifier(mode.Mock()).Classify(ctx, "   ")
		Expect(err).To(MatchError(sentiment.ErrEmpty))
		Expect(mode.Mock().Calls()).To(BeEmpty())
	})

	It("counts reviews and keeps going past a Python exception", func(ctx SpecContext) {
		mode.Mock().AppendHandlers(
			mockpy.Respond(map[string]any{"label": "positive", "score": 1}),
			mockpy.Raise("TypeError", "text must be a string"),
			mockpy.Respond(map[string]any{"label": "negative", "score": 1}),
		)
		counts, err := sentiment.NewClassifier(mode.Mock()).Summary(ctx, []string{"a", "b", "c"})
		Expect(err).NotTo(HaveOccurred())
		Expect(counts).To(Equal(map[string]int{"positive": 1, "negative": 1, "error": 1}))
	})

	It("reports a crashed Python as unavailable and stops", func(ctx SpecContext) {
		mode.Mock().AppendHandlers(mockpy.Respond(map[string]any{"label": "neutral"}), mockpy.Crash(137))
		counts, err := sentiment.NewClassifier(mode.Mock()).Summary(ctx, []string{"a", "b", "c"})
		Expect(err).To(MatchError(sentiment.ErrUnavailable))
		Expect(counts).To(Equal(map[string]int{"neutral": 1}))
	})

	It("gives up at its deadline when Python is slow, without sleeping", func(ctx SpecContext) {
		clock := clockwork.NewFakeClock()
		py := mockpy.New(mockpy.WithClock(clock))
		py.RouteToHandler("classify", py.Delay(time.Minute, mockpy.Respond(map[string]any{"label": "neutral"})))
		deadline, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		_, err := sentiment.NewClassifier(py).Classify(deadline, "slow")
		Expect(err).To(MatchError(context.DeadlineExceeded))
	})

	It("streams an explanation, asking the Go lexicon about each word", func(ctx SpecContext) {
		mode.Mock().RouteToHandler("explain", mockpy.StreamFunc(func(ctx context.Context, call mockpy.Call, yield func(any) bool) error {
			var args struct{ Text string }
			Expect(call.Decode(&args)).To(Succeed())
			for _, word := range strings.Fields(args.Text) {
				var polarity string
				if err := mockpy.CallGo(ctx, "lexicon", word, &polarity); err != nil {
					return err
				}
				if !yield(word + ":" + polarity) {
					return nil
				}
			}
			return nil
		}))
		lexicon := func(word string) (string, error) {
			if word == "great" {
				return "positive", nil
			}
			return "neutral", nil
		}
		var tokens []string
		for token, err := range sentiment.NewClassifier(mode.Mock()).Explain(ctx, "great phone", lexicon) {
			Expect(err).NotTo(HaveOccurred())
			tokens = append(tokens, token)
		}
		Expect(tokens).To(Equal([]string{"great:positive", "phone:neutral"}))
		Expect(mode.Mock()).To(mockpy.HaveStreamed("explain", 2))
		Expect(mode.Mock()).To(mockpy.HaveCalledGo("lexicon"))
	})
})
