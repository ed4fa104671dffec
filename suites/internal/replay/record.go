package replay

import (
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/cassette"
	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/mockpy"
	"github.com/pyharness/pyharness/realpy"
)

var _ = describe("Recording on real Python", harness.Integration, harness.PythonReal, func() {
	It("replays on the mock with the results real Python gave, streams and calls into Go included", func(ctx SpecContext) {
		pool := startPool(ctx)
		rec := cassette.NewRecorder(pool)
		real := scenario(ctx, rec)
		Expect(real.Labels).To(HaveLen(2))
		Expect(real.ErrType).To(Equal("TypeError"))
		Expect(real.Tokens).To(Equal([]string{"an:neutral", "awful:negative", "phone:neutral"}))
		Expect(real.Counted).To(Equal([]int{0, 1}))
		Expect(real.StreamErr).To(Equal("ValueError: stopped after 2"))

		path := filepath.Join(GinkgoT().TempDir(), "scenario.jsonl")
		Expect(rec.Save(path)).To(Succeed())
		py, err := mockpy.Replay(path, mockpy.WithFailHandler(Fail))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(py.Close)
		Expect(scenario(ctx, py)).To(Equal(real))
		Expect(py).To(mockpy.HaveNoMismatches())
		Expect(py).To(mockpy.HaveCalledGo("lexicon"))
		Expect(py).To(mockpy.HaveStreamed("explain", 3))

		data, err := os.ReadFile(path)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(data)).To(ContainSubstring(`"call_go":[{"args":"an","name":"lexicon","result":"neutral"}`))
		Expect(string(data)).To(ContainSubstring(`"args":{"text":"awful <b>phone</b>"}`), "no HTML escaping")
		Expect(string(data)).NotTo(ContainSubstring(filepath.Dir(testdata())), "tracebacks name files by base name")
	}, SpecTimeout(time.Minute))

	It("writes byte-identical cassettes on two recording runs", func(ctx SpecContext) {
		first, second := cassette.NewRecorder(startPool(ctx)), cassette.NewRecorder(startPool(ctx))
		scenario(ctx, first)
		scenario(ctx, second)
		a, err := first.Cassette().Bytes()
		Expect(err).NotTo(HaveOccurred())
		b, err := second.Cassette().Bytes()
		Expect(err).NotTo(HaveOccurred())
		Expect(string(b)).To(Equal(string(a)))
		Expect(bytesLines(a)).To(Equal(1 + 5))
	}, SpecTimeout(time.Minute))

	It("keeps a redacted secret out of the file, and still replays the call", func(ctx SpecContext) {
		rec := cassette.NewRecorder(startPool(ctx), cassette.WithRedact("api_key", "token"))
		args := map[string]string{"user": "ada", "api_key": "s3cret-key"}
		var got map[string]string
		Expect(rec.Call(ctx, "login", args, &got)).To(Succeed())
		Expect(got["token"]).To(Equal("tok-yek-terc3s"))
		path := filepath.Join(GinkgoT().TempDir(), "login.jsonl")
		Expect(rec.Save(path)).To(Succeed())
		data, err := os.ReadFile(path)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(data)).NotTo(ContainSubstring("s3cret"))
		Expect(string(data)).NotTo(ContainSubstring("terc3s"))
		Expect(string(data)).To(ContainSubstring(`"api_key":"[redacted]"`))

		py, err := mockpy.Replay(path, mockpy.WithFailHandler(Fail))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(py.Close)
		var replayed map[string]string
		Expect(py.Call(ctx, "login", args, &replayed)).To(Succeed())
		Expect(replayed).To(Equal(map[string]string{"user": "ada", "token": cassette.RedactedValue}))
	}, SpecTimeout(time.Minute))
})

var _ = describe("Verify mode", harness.Integration, harness.PythonReal, func() {
	It("passes on the handler that was recorded, and fails with a readable diff on a changed one", func(ctx SpecContext) {
		rec := cassette.NewRecorder(startPool(ctx))
		scenario(ctx, rec)
		c := rec.Cassette()
		Expect(cassette.Verify(ctx, c, startPool(ctx))).To(Succeed())

		err := cassette.Verify(ctx, c, startPool(ctx, realpy.WithEnv("REPLAY_VARIANT=2")))
		var drift *cassette.DriftError
		Expect(err).To(BeAssignableToTypeOf(drift))
		Expect(err.Error()).To(Equal("cassette: 1 of 5 recorded calls answered differently on real Python " +
			"(re-record with PYHARNESS_RECORD=all if the change is meant):\n" +
			"  call 1: classify({\"text\":\"great phone\"})\n" +
			"    result.label: recorded \"positive\", got \"glad\""))
	}, SpecTimeout(time.Minute))

	It("names the calls into Go that changed", func(ctx SpecContext) {
		rec := cassette.NewRecorder(startPool(ctx))
		scenario(ctx, rec)
		c := rec.Cassette()
		c.Interactions[3].Args = []byte(`{"text":"an awful"}`)
		err := cassette.Verify(ctx, c, startPool(ctx))
		Expect(err).To(MatchError(ContainSubstring("  call 4: explain({\"text\":\"an awful\"})\n" +
			"    items[2]: recorded \"phone:neutral\", missing\n" +
			"    call_go[2]: recorded lexicon \"phone\", not made")))
	}, SpecTimeout(time.Minute))
})

func bytesLines(b []byte) int {
	n := 0
	for _, c := range b {
		if c == '\n' {
			n++
		}
	}
	return n
}
