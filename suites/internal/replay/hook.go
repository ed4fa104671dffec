package replay

import (
	"os"
	"path/filepath"
	"runtime"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/cassette"
	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/mockpy"
)

var _ = describe("harness.Record", Ordered, harness.Integration, harness.PythonReal, func() {
	var dir, recordedText string

	BeforeAll(func() { dir = GinkgoT().TempDir() })

	It("names a spec's cassette from its full text, under testdata/cassettes beside the spec's file", func() {
		path, mode, err := harness.SpecCassette(cassette.WithMode(cassette.ModeRecordOnce))
		Expect(err).NotTo(HaveOccurred())
		Expect(mode).To(Equal(cassette.ModeRecordOnce))
		_, file, _, _ := runtime.Caller(0)
		Expect(path).To(Equal(filepath.Join(filepath.Dir(file), "testdata", "cassettes",
			"harness-record-names-a-spec-s-cassette-from-its-full-text-under-testdata-cassettes-beside-the-sp-"+path[len(path)-14:])))
		Expect(filepath.Base(path)).To(HaveLen(96 + 1 + 8 + len(".jsonl")))
	})

	It("records the spec's calls when the spec ends", func(ctx SpecContext) {
		recordedText = CurrentSpecReport().FullText()
		py := harness.Record(startPool(ctx), cassette.WithDir(dir), cassette.WithMode(cassette.ModeRecordAll))
		var v map[string]any
		Expect(py.Call(ctx, "classify", map[string]string{"text": "great"}, &v)).To(Succeed())
	}, SpecTimeout(time.Minute))

	It("wrote it, for the mock to replay", func(ctx SpecContext) {
		path := filepath.Join(dir, cassette.FileName(recordedText))
		Expect(path).To(BeAnExistingFile())
		py, err := mockpy.Replay(path, mockpy.WithFailHandler(Fail))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(py.Close)
		var v map[string]any
		Expect(py.Call(ctx, "classify", map[string]string{"text": "great"}, &v)).To(Succeed())
		Expect(v).To(HaveKeyWithValue("label", "positive"))
		entries, err := os.ReadDir(dir)
		Expect(err).NotTo(HaveOccurred())
		Expect(entries).To(HaveLen(1), "one cassette per spec that recorded")
	})

	// answersFromCassette writes a cassette at the running spec's path,
	// then checks that harness.Record in mode answers from it and calls
	// nothing of the Caller it wraps.
	answersFromCassette := func(ctx SpecContext, mode cassette.Mode) {
		path, _, err := harness.SpecCassette(cassette.WithDir(dir))
		Expect(err).NotTo(HaveOccurred())
		m := mockpy.New(mockpy.WithFailHandler(Fail))
		DeferCleanup(m.Close)
		m.RouteToHandler("classify", mockpy.Respond(map[string]any{"label": "recorded"}))
		rec := cassette.NewRecorder(m)
		Expect(rec.Call(ctx, "classify", map[string]string{"text": "great"}, nil)).To(Succeed())
		Expect(rec.Save(path)).To(Succeed())

		python := mockpy.New(mockpy.WithFailHandler(Fail)) // stands for real Python: no call may reach it
		DeferCleanup(python.Close)
		py := harness.Record(python, cassette.WithDir(dir), cassette.WithMode(mode))
		var v map[string]any
		Expect(py.Call(ctx, "classify", map[string]string{"text": "great"}, &v)).To(Succeed())
		Expect(v).To(HaveKeyWithValue("label", "recorded"))
		Expect(python.Calls()).To(BeEmpty(), "the wrapped Caller is not called")
	}

	It("answers from an existing cassette in record-once mode, calling nothing", func(ctx SpecContext) {
		answersFromCassette(ctx, cassette.ModeRecordOnce)
	})

	It("answers from the cassette in replay-only mode, calling nothing", func(ctx SpecContext) {
		answersFromCassette(ctx, cassette.ModeReplayOnly)
	})
})
