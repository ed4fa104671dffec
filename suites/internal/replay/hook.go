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
})
