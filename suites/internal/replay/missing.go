package replay

import (
	"context"
	"encoding/json"
	"runtime"

	"github.com/onsi/ginkgo/v2/types"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/cassette"
	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/mockpy"
)

// recorded is a cassette as a recording run writes it, made by hand.
func recorded() *cassette.Cassette {
	return &cassette.Cassette{Interactions: []cassette.Interaction{
		{Method: "classify", Args: json.RawMessage(`{"text":"great"}`), Result: json.RawMessage(`{"label":"positive"}`)},
		{Method: "classify", Args: json.RawMessage(`{"lang":"en","text":"awful phone"}`), Result: json.RawMessage(`{"label":"negative"}`)},
	}}
}

// failure is one failure the mock reported, and where.
type failure struct {
	message  string
	location types.CodeLocation
}

func capture(into *[]failure) mockpy.Option {
	return mockpy.WithFailHandler(func(message string, skip ...int) {
		n := 0
		if len(skip) > 0 {
			n = skip[0]
		}
		*into = append(*into, failure{message, types.NewCodeLocation(n + 1)})
	})
}

var _ = describe("Replaying a cassette", harness.PythonMock, func() {
	It("fails a call that is not in it at the spec's line, naming the nearest call and the difference", func(ctx SpecContext) {
		var failures []failure
		py := mockpy.New(capture(&failures)).ReplayCassette(recorded())
		DeferCleanup(py.Close)
		var v map[string]string
		_, _, line, _ := runtime.Caller(0)
		err := py.Call(ctx, "classify", map[string]string{"text": "awful phone", "lang": "fr"}, &v) // the line after Caller(0)
		Expect(err).To(HaveOccurred())
		Expect(failures).To(HaveLen(1))
		Expect(failures[0].location.LineNumber).To(Equal(line + 1))
		Expect(failures[0].message).To(Equal(`mockpy: call classify({"lang":"fr","text":"awful phone"}): expected a call recorded in the cassette; ` +
			`nearest: call 2, classify({"lang":"en","text":"awful phone"}); difference (recorded, got):` + "\n" +
			`    args.lang: recorded "en", got "fr"`))
		Expect(py.Mismatches()).To(HaveLen(1))
	})

	It("names the methods it recorded for a method it never saw", func(ctx SpecContext) {
		var failures []failure
		py := mockpy.New(capture(&failures)).ReplayCassette(recorded())
		DeferCleanup(py.Close)
		Expect(py.Call(ctx, "summarize", []string{"a"}, nil)).NotTo(Succeed())
		Expect(failures).To(HaveLen(1))
		Expect(failures[0].message).To(ContainSubstring(`expected a call recorded in the cassette; no call of "summarize" was recorded (recorded: classify); nearest: call 1, classify({"text":"great"})`))
	})

	It("answers in order, matches by method when told, and keeps the mock's matchers working", func(ctx SpecContext) {
		py := mockpy.New(mockpy.WithFailHandler(Fail)).ReplayCassette(recorded(), cassette.WithMatcher(cassette.ByMethod))
		DeferCleanup(py.Close)
		var first, second, third map[string]string
		Expect(py.Call(ctx, "classify", map[string]string{"text": "anything"}, &first)).To(Succeed())
		Expect(py.Call(ctx, "classify", map[string]string{"text": "else"}, &second)).To(Succeed())
		Expect(py.Call(ctx, "classify", map[string]string{"text": "again"}, &third)).To(Succeed())
		Expect([]string{first["label"], second["label"], third["label"]}).To(Equal([]string{"positive", "negative", "negative"}))
		Expect(py).To(mockpy.HaveReceived("classify", mockpy.Times(3)))
		Expect(py.Call(ctx, "ping", nil, nil)).To(Succeed(), "built-ins answer what the cassette never saw")
	})

	It("replays errors with their types", func(ctx SpecContext) {
		c := &cassette.Cassette{Interactions: []cassette.Interaction{
			{Method: "boom", Args: json.RawMessage(`null`), Error: &cassette.Error{Kind: "exception", Type: "ValueError", Message: "no", Traceback: []string{"Traceback (most recent call last):", `  File "h.py", line 3, in boom`, "ValueError: no"}}},
			{Method: "die", Args: json.RawMessage(`null`), Error: &cassette.Error{Kind: "worker_exited", Code: 137}},
		}}
		py := mockpy.New(mockpy.WithFailHandler(Fail)).ReplayCassette(c)
		DeferCleanup(py.Close)
		err := py.Call(ctx, "boom", nil, nil)
		Expect(err).To(MatchError(ContainSubstring("ValueError")))
		Expect(err.Error()).To(ContainSubstring("no"))
		Expect(py.Call(ctx, "die", nil, nil)).To(MatchError(ContainSubstring("exited")))
		Expect(py.Call(context.Background(), "boom", nil, nil)).To(HaveOccurred(), "the worker is gone after a recorded crash")
	})

	It("fails when the Go function answers otherwise than recorded", func(ctx SpecContext) {
		c := &cassette.Cassette{Interactions: []cassette.Interaction{{
			Method: "explain", Args: json.RawMessage(`{"text":"awful"}`), Stream: true,
			CallGo: []cassette.GoCall{{Name: "lexicon", Args: json.RawMessage(`"awful"`), Result: json.RawMessage(`"negative"`)}},
			Items:  []json.RawMessage{json.RawMessage(`"awful:negative"`)},
		}}}
		var failures []failure
		py := mockpy.New(capture(&failures), mockpy.WithCallback("lexicon", func(context.Context, json.RawMessage) (any, error) {
			return "positive", nil
		})).ReplayCassette(c)
		DeferCleanup(py.Close)
		for _, err := range py.Stream(ctx, "explain", map[string]string{"text": "awful"}) {
			if err != nil {
				break
			}
		}
		Expect(failures).To(HaveLen(1))
		Expect(failures[0].message).To(ContainSubstring(`expected the Go function "lexicon" to answer lexicon "awful" as recorded in the cassette (call 1); difference (recorded, got):` + "\n" +
			`    result: recorded "negative", got "positive"`))
	})
})
