package bench

import (
	"errors"
	"fmt"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/internal/benchkit"
)

var _ = describe("the example row", func() {
	// runs records the order of the runs and answers each with the next time.
	type runs struct {
		order  []string
		mocked []float64
		reused []float64
	}
	fakes := func(r *runs) (benchkit.ExampleRun, benchkit.ExampleRun) {
		mocked := func() (float64, string, error) {
			r.order = append(r.order, "mocked")
			t := r.mocked[0]
			r.mocked = r.mocked[1:]
			return t, "mocked output", nil
		}
		reused := func() (float64, string, error) {
			r.order = append(r.order, "reused")
			t := r.reused[0]
			r.reused = r.reused[1:]
			out := fmt.Sprintf("  pyharness: 1 pool host(s), 2 process(es) attached; interpreters: 0 spawned, %d forked; 0 container(s)\n"+
				"  pyharness: pool host reused, warm from an earlier run: 69ms of start-up (imports) not paid again\n", len(r.order))
			return t, out, nil
		}
		return mocked, reused
	}

	It("discards the first reused run, rotates the order every round, and takes medians and the ratio", func() {
		r := &runs{mocked: []float64{200, 100, 300}, reused: []float64{999, 220, 130, 270}}
		mocked, reused := fakes(r)
		ex, err := benchkit.ExampleRounds("examples/sentiment", 3, mocked, reused)
		Expect(err).NotTo(HaveOccurred())
		Expect(r.order).To(Equal([]string{"reused", "mocked", "reused", "reused", "mocked", "mocked", "reused"}))
		Expect(ex.Mocked).To(Equal([]float64{200, 100, 300}))
		Expect(ex.Reused).To(Equal([]float64{220, 130, 270}), "the warm-up run's 999 ms is not a round")
		Expect(ex.MockedMS).To(Equal(200.0))
		Expect(ex.ReusedMS).To(Equal(220.0))
		Expect(ex.Ratio).To(BeNumerically("~", 1.1, 1e-9))
		Expect(ex.RatioMin).To(BeNumerically("~", 0.9, 1e-9))
		Expect(ex.RatioMax).To(BeNumerically("~", 1.3, 1e-9))
		Expect(ex.Interpreters).To(Equal("0 spawned, 7 forked"), "the last reused run's summary")
		Expect(ex.Host).To(HavePrefix("reused, warm from an earlier run"))
		Expect(ex.Text()).To(Equal("mocked 200 ms; second reused run 220 ms: 1.10x [0.90-1.30]; interpreters 0 spawned, 7 forked"))
	})

	It("fails with the failing run's error, and refuses no rounds", func() {
		boom := errors.New("example: ginkgo failed")
		ok := func() (float64, string, error) { return 1, "", nil }
		bad := func() (float64, string, error) { return 0, "", boom }
		_, err := benchkit.ExampleRounds("x", 2, bad, ok)
		Expect(err).To(MatchError(boom))
		_, err = benchkit.ExampleRounds("x", 2, ok, bad)
		Expect(err).To(MatchError(boom), "the warm-up run fails the row too")
		_, err = benchkit.ExampleRounds("x", 0, ok, ok)
		Expect(err).To(MatchError(ContainSubstring("at least 1 round")))
	})

	It("is a row of the Numbers table with its JSON field, and a line of the table", func() {
		rep := sampleReport()
		rep.Example = &benchkit.Example{Dir: "/src/examples/sentiment", Rounds: 5, MockedMS: 212, ReusedMS: 198, Ratio: 198.0 / 212,
			RatioMin: 0.8, RatioMax: 1.2, Interpreters: "0 spawned, 6 forked"}
		md := benchkit.RenderNumbers(rep)
		Expect(md).To(ContainSubstring("example `sentiment`: `ginkgo -p` on its mocked suite"))
		Expect(md).To(ContainSubstring("(`example`) | mocked 212 ms; second reused run 198 ms: 0.93x [0.80-1.20]; interpreters 0 spawned, 6 forked |"))
		var table strings.Builder
		rep.WriteTable(&table)
		Expect(table.String()).To(ContainSubstring("/src/examples/sentiment, ginkgo -p, medians of 5 interleaved rounds: mocked 212 ms"))
	})
})
