package bench

import (
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/internal/benchkit"
)

// recorder notes, for every subject, each start and each echo, in order.
type recorder struct {
	mu     sync.Mutex
	events []string // "name start n" and "name echo <size>"
	sizes  map[string]map[int]int
}

func (r *recorder) note(name, event string, size int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, name+" "+event)
	if event == "echo" {
		if r.sizes[name] == nil {
			r.sizes[name] = map[int]int{}
		}
		r.sizes[name][size]++
	}
}

// fake is an in-process echo subject; corrupt makes its replies differ.
func (r *recorder) fake(name string, corrupt bool) benchkit.Subject {
	return benchkit.Subject{Name: name, Start: func(ctx context.Context, n int) (benchkit.Conn, error) {
		r.note(name, "start", n)
		return &fakeConn{r: r, name: name, corrupt: corrupt}, nil
	}}
}

// settled notes a settle (RefConfig.Settle): the garbage collection
// before a subject's timed measurement.
func (r *recorder) settled() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, "settle")
}

type fakeConn struct {
	r       *recorder
	name    string
	corrupt bool
	closed  bool
}

func (c *fakeConn) Echo(ctx context.Context, payload string) (string, error) {
	if c.closed {
		return "", errors.New("closed")
	}
	c.r.note(c.name, "echo", len(payload))
	if c.corrupt {
		return payload + "!", nil
	}
	return payload, nil
}

func (c *fakeConn) Close() error { c.closed = true; return nil }

var _ = describe("the reference rows", func() {
	var (
		rec *recorder
		cfg benchkit.RefConfig
	)
	BeforeEach(func() {
		rec = &recorder{sizes: map[string]map[int]int{}}
		cfg = benchkit.RefConfig{Rounds: 3, Calls: 20, ThroughputCalls: 40, Callers: 8, Workers: 2, BigCalls: 2, Starts: 1, Settle: rec.settled}
	})
	subjects := func() []benchkit.Subject {
		return []benchkit.Subject{rec.fake("pyharness", false), rec.fake("ndjson", false), rec.fake("floor", false)}
	}

	It("measures every subject in every row, the same calls with the same payloads, the warm-up round discarded", func() {
		// With bench's own collection too: a row has a ratio for a figure
		// above zero, and a fake's start to first call, in whole
		// microseconds, takes one only after a collection. The other specs
		// here count and order, and collect nothing.
		cfg.Settle = func() { rec.settled(); runtime.GC() }
		ref, err := benchkit.RunReference(context.Background(), cfg, subjects())
		Expect(err).NotTo(HaveOccurred())
		var measurements []string
		for _, r := range ref.Rows {
			measurements = append(measurements, r.Measurement)
			for _, s := range []string{"pyharness", "ndjson", "floor"} {
				Expect(r.Rounds[s]).To(HaveLen(3), "%s of %s", r.Measurement, s)
				Expect(r.Values).To(HaveKey(s))
			}
			Expect(r.Ratios).To(HaveLen(2), r.Measurement)
			Expect(r.Ratios).To(HaveKey("ndjson"))
			Expect(r.Ratios).To(HaveKey("floor"))
		}
		Expect(measurements).To(Equal([]string{benchkit.RowEchoP50, benchkit.RowThroughput, benchkit.RowFirstCall,
			benchkit.RowEcho1MiB, benchkit.RowGoCPU, benchkit.RowAllocs}))
		// 4 rounds (1 warm-up): per round Starts first calls, Calls tiny
		// echoes, ThroughputCalls shared, BigCalls of 1 MiB; each subject alike.
		for _, s := range []string{"pyharness", "ndjson", "floor"} {
			Expect(rec.sizes[s]).To(Equal(map[int]int{
				len(benchkit.TinyPayload): 4 * (cfg.Starts + cfg.Calls + cfg.ThroughputCalls),
				benchkit.BigPayloadSize:   4 * cfg.BigCalls,
			}), s)
		}
		// Each timed measurement of a subject (each start to first call,
		// the tiny echoes, throughput, the 1 MiB echoes) comes after a
		// settle, and holds that subject's events alone; the long-lived
		// workers' starts (two per subject) are not timed.
		Expect(rec.events[:6]).NotTo(ContainElement("settle"))
		var measured []string
		for i, e := range rec.events[6:] {
			name, _, _ := strings.Cut(e, " ")
			switch {
			case e == "settle":
				measured = append(measured, "")
			case i == 0:
				Fail("the first timed measurement came before a settle: " + e)
			case measured[len(measured)-1] == "":
				measured[len(measured)-1] = name
			default:
				Expect(name).To(Equal(measured[len(measured)-1]), "event %d (%s): one settle, one subject's measurement", i+6, e)
			}
		}
		Expect(measured).To(HaveLen(4*3*(cfg.Starts+3)), "a settle before every timed measurement of every subject, in 4 rounds")
		Expect(measured).NotTo(ContainElement(""), "a settle with no measurement after it")
	})

	It("rotates the order of the subjects every round, in every measurement", func() {
		ref, err := benchkit.RunReference(context.Background(), cfg, subjects())
		Expect(err).NotTo(HaveOccurred())
		Expect(ref.Orders).To(Equal([][]string{
			{"ndjson", "floor", "pyharness"},
			{"floor", "pyharness", "ndjson"},
			{"pyharness", "ndjson", "floor"},
		}))
		// After the long-lived workers' starts (two per subject), each
		// round runs four measurements (first call, tiny echoes,
		// throughput, 1 MiB), each for the subjects in the round's order:
		// the subjects' runs of events are the round's order four times.
		var runs []string
		for _, e := range rec.events[6:] {
			name, _, _ := strings.Cut(e, " ")
			if e == "settle" {
				continue
			}
			if len(runs) == 0 || runs[len(runs)-1] != name {
				runs = append(runs, name)
			}
		}
		var want []string
		for _, order := range append([][]string{{"pyharness", "ndjson", "floor"}}, ref.Orders...) { // the warm-up round first
			for range 4 {
				want = append(want, order...)
			}
		}
		Expect(runs).To(Equal(want))
	})

	It("measures the tiny echoes alone for the pinned run", func() {
		cfg.LatencyOnly = true
		ref, err := benchkit.RunReference(context.Background(), cfg, subjects())
		Expect(err).NotTo(HaveOccurred())
		var measurements []string
		for _, r := range ref.Rows {
			measurements = append(measurements, r.Measurement)
		}
		Expect(measurements).To(Equal([]string{benchkit.RowEchoP50, benchkit.RowGoCPU, benchkit.RowAllocs}))
		Expect(rec.sizes["floor"]).To(Equal(map[int]int{len(benchkit.TinyPayload): 4 * cfg.Calls}))
	})

	It("fails on an echo that differs from what was sent, naming the subject", func() {
		_, err := benchkit.RunReference(context.Background(), cfg,
			[]benchkit.Subject{rec.fake("pyharness", false), rec.fake("ndjson", true)})
		Expect(err).To(MatchError(ContainSubstring("reference: ndjson: ")))
		Expect(err).To(MatchError(ContainSubstring("the echo differs from what was sent")))
	})

	It("refuses a configuration with nothing to measure", func() {
		cfg.Rounds = 0
		_, err := benchkit.RunReference(context.Background(), cfg, subjects())
		Expect(err).To(MatchError(ContainSubstring("want at least 1 round")))
		Expect(rec.events).To(BeEmpty())
	})

	It("takes medians of the rounds and pyharness's figure over the others'", func() {
		r := benchkit.NewRow(benchkit.RowEchoP50, cfg)
		r.Rounds = map[string][]float64{"pyharness": {30, 10, 20}, "ndjson": {5, 40, 10, 20}, "floor": {8, 2, 5}}
		r.Finish()
		Expect(r.Values).To(Equal(map[string]float64{"pyharness": 20, "ndjson": 15, "floor": 5}))
		Expect(r.Ratios).To(Equal(map[string]float64{"ndjson": 20.0 / 15, "floor": 4}))
		Expect(r.Deltas).To(Equal(map[string]float64{"ndjson": 5, "floor": 15}))
		// Round by round: 30/8, 10/2, 20/5 against the floor; none against
		// ndjson, whose round count differs.
		Expect(r.RatioRange).To(Equal(map[string][2]float64{"floor": {3.75, 5}}))
	})

	It("has the JSON shape the ci/run smoke step asserts", func() {
		ref, err := benchkit.RunReference(context.Background(), cfg, subjects())
		Expect(err).NotTo(HaveOccurred())
		rep := &benchkit.Report{Results: []benchkit.Result{{Strategy: "zygote", ReadyMS: 1}}, Reference: ref}
		var out strings.Builder
		Expect(rep.WriteJSON(&out)).To(Succeed())
		var got struct {
			Results []struct {
				Strategy string `json:"strategy"`
			} `json:"results"`
			Reference struct {
				Subjects []string `json:"subjects"`
				Rows     []struct {
					Measurement string               `json:"measurement"`
					Values      map[string]float64   `json:"values"`
					Rounds      map[string][]float64 `json:"rounds"`
					Ratios      map[string]float64   `json:"ratios"`
				} `json:"rows"`
			} `json:"reference"`
		}
		Expect(json.Unmarshal([]byte(out.String()), &got)).To(Succeed())
		Expect(got.Results).To(HaveLen(1))
		Expect(got.Reference.Subjects).To(Equal([]string{"pyharness", "ndjson", "floor"}))
		Expect(got.Reference.Rows).To(HaveLen(6))
		Expect(got.Reference.Rows[0].Measurement).To(Equal("echo_p50_us"))
		Expect(got.Reference.Rows[0].Values).To(HaveLen(3))
		Expect(got.Reference.Rows[0].Rounds["floor"]).To(HaveLen(3))
		Expect(got.Reference.Rows[0].Ratios).To(HaveKey("ndjson"))
	})
})
