package bench

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/internal/benchkit"
)

// sampleReport is a run as bench reports one, with reference rows made
// by RunReference on in-process subjects.
func sampleReport() *benchkit.Report {
	rec := &recorder{sizes: map[string]map[int]int{}}
	ref, err := benchkit.RunReference(context.Background(),
		benchkit.RefConfig{Rounds: 2, Calls: 5, ThroughputCalls: 8, Callers: 8, Workers: 2, BigCalls: 1, Starts: 1,
			Settle: func() {}}, // the table's shape: nothing here is timed
		[]benchkit.Subject{rec.fake("pyharness", false), rec.fake("ndjson", false), rec.fake("floor", false)})
	Expect(err).NotTo(HaveOccurred())
	pinned := benchkit.NewRow(benchkit.RowEchoP50Pinned, ref.Config)
	pinned.Rounds = map[string][]float64{"pyharness": {18.3}, "ndjson": {14.6}, "floor": {10.6}}
	pinned.Finish()
	ref.Rows = append(ref.Rows[:1], append([]benchkit.ReferenceRow{pinned}, ref.Rows[1:]...)...)
	ref.Pinned = "taskset -c 0, GOMAXPROCS=1"
	return &benchkit.Report{
		Workers: 8, ImportCPUMS: 500, Backend: "process", Command: "pyharness bench --rounds 2",
		Results: []benchkit.Result{
			{Strategy: "seed", ReadyMS: 8001, Interpreters: 8},
			{Strategy: "zygote", ReadyMS: 592, Interpreters: 1, Forked: 8},
		},
		SingleMS: 605, ReuseFirstMS: 627, ReuseSecondMS: 29, FreshMedianMS: 2.7,
		PingP50US: 69, PingP99US: 120, RawEchoP50US: 23, RawEchoP99US: 40, PingOverRawP50: 3,
		Fairness:  &benchkit.Fairness{Callers: 16, PoolSize: 2, Calls: 16000, MinPerCaller: 996, MaxPerCaller: 1003, MedianCallMS: 0.1, WorstWaitMS: 4.7, PayloadBytes: 16},
		Reference: ref,
		Machine:   &benchkit.Machine{Cores: 2, CPU: "AMD EPYC", Python: "cpython 3.11.7", PyPath: "/usr/bin/python3", Go: "go1.26.8", OS: "linux/amd64", Date: "2026-12-01T19:00:00Z", Commit: "abc1234"},
	}
}

var _ = describe("the generated Numbers table", func() {
	It("is one table with a command and a JSON field per row, after the machine and date", func() {
		md := benchkit.RenderNumbers(sampleReport())
		lines := strings.Split(strings.TrimSpace(md), "\n")
		Expect(lines[0]).To(Equal("Measured by `pyharness bench --rounds 2` on 2026-12-01T19:00:00Z, commit abc1234."))
		Expect(lines).To(ContainElement("- machine: 2 cores (AMD EPYC), cpython 3.11.7 (/usr/bin/python3), go1.26.8 linux/amd64"))
		var header, rows []string
		for _, l := range lines[1:] {
			switch {
			case strings.HasPrefix(l, "| # |"):
				header = append(header, l)
			case strings.HasPrefix(l, "| ") && !strings.HasPrefix(l, "|---"):
				rows = append(rows, l)
			}
		}
		Expect(header).To(Equal([]string{"| # | what | command (`--json` field) | pyharness | os/exec NDJSON | floor |"}))
		// 2 strategies, single, reuse, Fresh, ping, fairness, 7 reference rows.
		Expect(rows).To(HaveLen(14))
		for _, r := range rows {
			Expect(r).To(ContainSubstring("| `pyharness bench --rounds 2` (`"), r)
			Expect(strings.Count(r, " | ")).To(Equal(5), r) // six cells, no stray pipe
		}
		Expect(rows[0]).To(HavePrefix("| 1 | seed: "))
		Expect(rows[0]).To(ContainSubstring("(`results[0]`) | ready in 8001 ms; 8 paid for the import; 13.5x zygote |"))
		Expect(rows[5]).To(ContainSubstring("| p50 69.0 us, p99 120.0 us |  | p50 23.0 us, p99 40.0 us (3.00x) |"))
		Expect(rows[8]).To(ContainSubstring("| ref: tiny echo p50, 1 caller, pinned (taskset -c 0, GOMAXPROCS=1) | `pyharness bench --rounds 2` (`reference.rows[1]`) | 18.3 us | 14.6 us (1.25x) | 10.6 us (1.73x) |"))
	})

	It("replaces only what lies between the markers, and refuses a file without them", func() {
		doc := "# Numbers\n\nintro\n\n" + benchkit.NumbersBegin + "\nold table\n" + benchkit.NumbersEnd + "\n\n## Curated\n\nkept\n"
		out, err := benchkit.SpliceNumbers([]byte(doc), "new table\n")
		Expect(err).NotTo(HaveOccurred())
		Expect(string(out)).To(Equal("# Numbers\n\nintro\n\n" + benchkit.NumbersBegin + "\nnew table\n" + benchkit.NumbersEnd + "\n\n## Curated\n\nkept\n"))
		part, err := benchkit.GeneratedPart(out)
		Expect(err).NotTo(HaveOccurred())
		Expect(part).To(Equal("new table\n"))
		_, err = benchkit.SpliceNumbers([]byte("# Numbers\n\nno markers\n"), "x")
		Expect(err).To(MatchError(benchkit.ErrNoMarkers))
		_, err = benchkit.GeneratedPart([]byte(benchkit.NumbersBegin + "\nno end\n"))
		Expect(err).To(MatchError(benchkit.ErrNoMarkers))
	})

	It("writes the table and the run's JSON beside it, from which the table renders again", func() {
		path := filepath.Join(GinkgoT().TempDir(), "numbers.md")
		Expect(os.WriteFile(path, []byte("intro\n"+benchkit.NumbersBegin+"\n"+benchkit.NumbersEnd+"\ncurated\n"), 0o644)).To(Succeed())
		rep := sampleReport()
		Expect(benchkit.WriteNumbers(path, rep)).To(Succeed())
		js, err := os.ReadFile(filepath.Join(filepath.Dir(path), "numbers.json"))
		Expect(err).NotTo(HaveOccurred())
		var back benchkit.Report
		Expect(json.Unmarshal(js, &back)).To(Succeed())
		doc, err := os.ReadFile(path)
		Expect(err).NotTo(HaveOccurred())
		part, err := benchkit.GeneratedPart(doc)
		Expect(err).NotTo(HaveOccurred())
		Expect(part).To(Equal(benchkit.RenderNumbers(&back)))
		Expect(part).To(Equal(benchkit.RenderNumbers(rep)))
		Expect(string(doc)).To(HavePrefix("intro\n"))
		Expect(string(doc)).To(HaveSuffix(benchkit.NumbersEnd + "\ncurated\n"))
	})
})

var _ = describe("the text table", func() {
	It("lists every reference row with the three figures and pyharness's ratios, and no start-up table for a reference-only run", func() {
		rep := sampleReport()
		rep.Workers, rep.Results, rep.SingleMS, rep.ReuseFirstMS, rep.FreshMedianMS, rep.PingP50US, rep.Fairness = 0, nil, 0, 0, 0, 0, nil
		var out strings.Builder
		rep.WriteTable(&out)
		text := out.String()
		Expect(text).NotTo(ContainSubstring("strategy"))
		Expect(text).To(MatchRegexp(`measurement +unit +pyharness +ndjson +floor +pyharness/ndjson +pyharness/floor`))
		Expect(text).To(MatchRegexp(`tiny echo p50, 1 caller, pinned \(taskset -c 0, GOMAXPROCS=1\) +us +18\.3 +14\.6 +10\.6 +1\.25x +1\.73x`))
		for _, r := range rep.Reference.Rows {
			Expect(text).To(ContainSubstring(r.What))
		}
		Expect(text).To(ContainSubstring("2026-12-01T19:00:00Z: 2 cores (AMD EPYC), cpython 3.11.7, go1.26.8 linux/amd64"))
	})
})
