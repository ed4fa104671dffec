// The reference rows: pyharness beside what a team writes instead, measured
// in the same run, round by round, in an order rotated each round.

package benchkit

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The reference rows' measurements, in the order they are listed.
const (
	RowEchoP50       = "echo_p50_us"            // tiny echo p50, 1 caller, one worker
	RowEchoP50Pinned = "echo_p50_pinned_us"     // the same under taskset -c 0, GOMAXPROCS=1
	RowThroughput    = "throughput_calls_per_s" // Callers callers on Workers workers
	RowFirstCall     = "first_call_ms"          // start one worker, nothing imported, until its first echo returns
	RowEcho1MiB      = "echo_1mib_mib_per_s"    // 1 MiB string echoes, one at a time
	RowGoCPU         = "go_cpu_per_call_us"     // getrusage(RUSAGE_SELF) over the tiny echoes
	RowAllocs        = "allocs_per_call"        // runtime.MemStats.Mallocs over the tiny echoes
)

// RefConfig says how much of each measurement a round holds.
type RefConfig struct {
	Rounds int `json:"rounds"` // measured rounds; one warm-up round before them is discarded
	// Calls is how many tiny echoes each subject makes per round, one at a
	// time (p50, Go CPU and allocations per call).
	Calls           int `json:"calls"`
	ThroughputCalls int `json:"throughput_calls"` // shared by Callers on Workers workers, per subject per round
	Callers         int `json:"callers"`
	Workers         int `json:"workers"`
	BigCalls        int `json:"big_calls"` // 1 MiB echoes per subject per round
	Starts          int `json:"starts"`    // start-to-first-call samples per subject per round
	// LatencyOnly measures the tiny echoes alone (the pinned run).
	LatencyOnly bool `json:"latency_only,omitempty"`
	// Settle runs before each timed measurement of a subject, so that none
	// pays for another's garbage: runtime.GC when nil. A spec of what is
	// called in what order, which times nothing, records it instead.
	Settle func() `json:"-"`
}

// settle collects the previous subject's garbage before the next one is
// timed (cfg.Settle).
func (cfg RefConfig) settle() {
	if cfg.Settle != nil {
		cfg.Settle()
		return
	}
	runtime.GC()
}

// TinyPayload is the tiny echo's value, the same for every subject.
const TinyPayload = "a small call"

// BigPayloadSize is the large echo's value size: a string of 1 MiB.
const BigPayloadSize = 1 << 20

// Reference is the reference rows of one run.
type Reference struct {
	Config RefConfig `json:"config"`
	// Subjects as listed (pyharness first); round r runs them rotated by r.
	Subjects []string `json:"subjects"`
	// Orders is the order each measured round ran the subjects in.
	Orders [][]string     `json:"orders"`
	Rows   []ReferenceRow `json:"rows"`
	Pinned string         `json:"pinned"` // how the pinned row was measured, or why it was not
}

// ReferenceRow is one measurement for every subject: the median of the
// rounds' figures, the rounds' figures, and pyharness's figure over each
// other subject's.
type ReferenceRow struct {
	Measurement    string               `json:"measurement"`
	What           string               `json:"what"`
	Unit           string               `json:"unit"`
	HigherIsBetter bool                 `json:"higher_is_better"`
	Values         map[string]float64   `json:"values"`
	Rounds         map[string][]float64 `json:"rounds"`
	// Ratios is pyharness's value over the subject's (for a time, above
	// 1 is slower; for a rate, above 1 is faster).
	Ratios map[string]float64 `json:"ratios"`
	// Deltas is pyharness's value minus the subject's.
	Deltas map[string]float64 `json:"deltas"`
	// RatioRange is the lowest and highest of the rounds' own ratios
	// (pyharness's figure over the subject's in the same round): how much
	// the machine moved the ratio.
	RatioRange map[string][2]float64 `json:"ratio_range"`
}

// Row returns the row of measurement m, or nil.
func (r *Reference) Row(m string) *ReferenceRow {
	for i := range r.Rows {
		if r.Rows[i].Measurement == m {
			return &r.Rows[i]
		}
	}
	return nil
}

var rowInfo = map[string]struct {
	what, unit string
	higher     bool
}{
	RowEchoP50:       {"tiny echo p50, 1 caller", "us", false},
	RowEchoP50Pinned: {"tiny echo p50, 1 caller, pinned (taskset -c 0, GOMAXPROCS=1)", "us", false},
	RowThroughput:    {"throughput, %d callers on %d workers", "calls/s", true},
	RowFirstCall:     {"start to first call, 1 worker, nothing imported", "ms", false},
	RowEcho1MiB:      {"1 MiB string echo (payload echoed per second)", "MiB/s", true},
	RowGoCPU:         {"Go CPU per small call (getrusage, user + system)", "us", false},
	RowAllocs:        {"Go allocations per small call (runtime.MemStats)", "allocs", false},
}

// NewRow is an empty row of measurement m.
func NewRow(m string, cfg RefConfig) ReferenceRow {
	info := rowInfo[m]
	what := info.what
	if m == RowThroughput {
		what = fmt.Sprintf(what, cfg.Callers, cfg.Workers)
	}
	return ReferenceRow{Measurement: m, What: what, Unit: info.unit, HigherIsBetter: info.higher,
		Values: map[string]float64{}, Rounds: map[string][]float64{}, Ratios: map[string]float64{}, Deltas: map[string]float64{}}
}

// RunReference measures subjects side by side: it starts each subject's
// one-worker and Workers-worker conns, then runs Rounds+1 rounds (the first
// a warm-up, discarded), each measurement in turn for every subject, the
// subjects in the order of the round (rotated by one each round). Every
// subject makes the same calls with the same payloads; every reply is
// checked against its request.
func RunReference(ctx context.Context, cfg RefConfig, subjects []Subject) (_ *Reference, err error) {
	if cfg.Rounds < 1 || cfg.Calls < 1 || len(subjects) == 0 {
		return nil, fmt.Errorf("reference: want at least 1 round, 1 call and 1 subject (rounds %d, calls %d, subjects %d)", cfg.Rounds, cfg.Calls, len(subjects))
	}
	if !cfg.LatencyOnly && (cfg.Workers < 1 || cfg.Callers < 1) {
		return nil, fmt.Errorf("reference: want at least 1 worker and 1 caller (workers %d, callers %d)", cfg.Workers, cfg.Callers)
	}
	ref := &Reference{Config: cfg}
	single := make(map[string]Conn, len(subjects))
	shared := make(map[string]Conn, len(subjects))
	defer func() {
		for _, m := range []map[string]Conn{single, shared} {
			for _, c := range m {
				err = errors.Join(err, c.Close())
			}
		}
	}()
	for _, s := range subjects {
		ref.Subjects = append(ref.Subjects, s.Name)
		c, err := s.Start(ctx, 1)
		if err != nil {
			return nil, fmt.Errorf("reference: start %s: %w", s.Name, err)
		}
		single[s.Name] = c
		if cfg.LatencyOnly || cfg.Workers < 1 {
			continue
		}
		if c, err = s.Start(ctx, cfg.Workers); err != nil {
			return nil, fmt.Errorf("reference: start %d workers of %s: %w", cfg.Workers, s.Name, err)
		}
		shared[s.Name] = c
	}

	rows := map[string]*ReferenceRow{}
	measures := []string{RowEchoP50, RowGoCPU, RowAllocs}
	if !cfg.LatencyOnly {
		measures = []string{RowFirstCall, RowEchoP50, RowGoCPU, RowAllocs, RowThroughput, RowEcho1MiB}
	}
	for _, m := range measures {
		r := NewRow(m, cfg)
		rows[m] = &r
	}
	big := strings.Repeat("x", BigPayloadSize)
	for round := 0; round <= cfg.Rounds; round++ {
		order := rotate(subjects, round)
		keep := func(m, name string, v float64) {
			if round > 0 {
				rows[m].Rounds[name] = append(rows[m].Rounds[name], v)
			}
		}
		if round > 0 {
			names := make([]string, len(order))
			for i, s := range order {
				names[i] = s.Name
			}
			ref.Orders = append(ref.Orders, names)
		}
		if !cfg.LatencyOnly && cfg.Starts > 0 {
			for _, s := range order {
				v, err := firstCall(ctx, s, cfg.Starts, cfg.settle)
				if err != nil {
					return nil, fmt.Errorf("reference: %s: start to first call: %w", s.Name, err)
				}
				keep(RowFirstCall, s.Name, v)
			}
		}
		for _, s := range order {
			p50, cpu, allocs, err := tinyEchoes(ctx, single[s.Name], cfg.Calls, cfg.settle)
			if err != nil {
				return nil, fmt.Errorf("reference: %s: tiny echoes: %w", s.Name, err)
			}
			keep(RowEchoP50, s.Name, p50)
			keep(RowGoCPU, s.Name, cpu)
			keep(RowAllocs, s.Name, allocs)
		}
		if cfg.LatencyOnly {
			continue
		}
		if cfg.ThroughputCalls > 0 {
			for _, s := range order {
				v, err := throughput(ctx, shared[s.Name], cfg.Callers, cfg.ThroughputCalls, cfg.settle)
				if err != nil {
					return nil, fmt.Errorf("reference: %s: throughput: %w", s.Name, err)
				}
				keep(RowThroughput, s.Name, v)
			}
		}
		if cfg.BigCalls > 0 {
			for _, s := range order {
				v, err := bigEchoes(ctx, single[s.Name], big, cfg.BigCalls, cfg.settle)
				if err != nil {
					return nil, fmt.Errorf("reference: %s: 1 MiB echoes: %w", s.Name, err)
				}
				keep(RowEcho1MiB, s.Name, v)
			}
		}
	}
	for _, m := range []string{RowEchoP50, RowThroughput, RowFirstCall, RowEcho1MiB, RowGoCPU, RowAllocs} {
		if r, ok := rows[m]; ok && len(r.Rounds) > 0 {
			r.Finish()
			ref.Rows = append(ref.Rows, *r)
		}
	}
	return ref, nil
}

// Finish sets the row's medians, ratios, deltas and ratio ranges from its
// rounds.
func (r *ReferenceRow) Finish() {
	if r.Values == nil {
		r.Values, r.Ratios, r.Deltas = map[string]float64{}, map[string]float64{}, map[string]float64{}
	}
	if r.Ratios == nil {
		r.Ratios = map[string]float64{}
	}
	if r.Deltas == nil {
		r.Deltas = map[string]float64{}
	}
	for name, vs := range r.Rounds {
		r.Values[name] = Median(vs)
	}
	base, ok := r.Values[SubjectPyharness]
	if !ok {
		return
	}
	for name, v := range r.Values {
		if name == SubjectPyharness {
			continue
		}
		r.Deltas[name] = base - v
		if v > 0 {
			r.Ratios[name] = base / v
		}
		if lo, hi, ok := ratioRange(r.Rounds[SubjectPyharness], r.Rounds[name]); ok {
			if r.RatioRange == nil {
				r.RatioRange = map[string][2]float64{}
			}
			r.RatioRange[name] = [2]float64{lo, hi}
		}
	}
}

// ratioRange is the lowest and highest of a[i]/b[i].
func ratioRange(a, b []float64) (lo, hi float64, ok bool) {
	if len(a) == 0 || len(a) != len(b) {
		return 0, 0, false
	}
	for i := range a {
		if b[i] <= 0 {
			return 0, 0, false
		}
		q := a[i] / b[i]
		if !ok || q < lo {
			lo = q
		}
		if !ok || q > hi {
			hi = q
		}
		ok = true
	}
	return lo, hi, ok
}

// Median is the median of vs (the mean of the middle two for an even count).
func Median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func rotate(s []Subject, by int) []Subject {
	by %= len(s)
	return append(slices.Clone(s[by:]), s[:by]...)
}

// firstCall starts one worker n times, each until its first tiny echo
// returns, and returns the median in milliseconds (the close is not timed).
func firstCall(ctx context.Context, s Subject, n int, settle func()) (float64, error) {
	samples := make([]time.Duration, 0, n)
	for range n {
		settle()
		start := time.Now()
		c, err := s.Start(ctx, 1)
		if err != nil {
			return 0, err
		}
		back, err := c.Echo(ctx, TinyPayload)
		took := time.Since(start)
		if err = errors.Join(err, checkEcho(back, TinyPayload), c.Close()); err != nil {
			return 0, err
		}
		samples = append(samples, took)
	}
	return ms(Percentile(samples, 50)), nil
}

// tinyEchoes makes n tiny echoes one at a time: their p50 (us), the Go
// process's CPU per call (us) and its allocations per call.
func tinyEchoes(ctx context.Context, c Conn, n int, settle func()) (p50, cpu, allocs float64, err error) {
	samples := make([]time.Duration, n)
	settle()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cpu0, err := processCPU()
	if err != nil {
		return 0, 0, 0, err
	}
	for i := range n {
		start := time.Now()
		back, err := c.Echo(ctx, TinyPayload)
		samples[i] = time.Since(start)
		if err != nil {
			return 0, 0, 0, err
		}
		if back != TinyPayload {
			return 0, 0, 0, checkEcho(back, TinyPayload)
		}
	}
	cpu1, err := processCPU()
	if err != nil {
		return 0, 0, 0, err
	}
	runtime.ReadMemStats(&after)
	return us(Percentile(samples, 50)), us(cpu1-cpu0) / float64(n), float64(after.Mallocs-before.Mallocs) / float64(n), nil
}

// throughput has callers goroutines share n tiny echoes on c: calls per second.
func throughput(ctx context.Context, c Conn, callers, n int, settle func()) (float64, error) {
	settle()
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		start = make(chan struct{})
	)
	for range callers {
		wg.Go(func() {
			<-start
			for next.Add(1) <= int64(n) {
				back, err := c.Echo(ctx, TinyPayload)
				if err = errors.Join(err, checkEcho(back, TinyPayload)); err != nil {
					mu.Lock()
					first = errors.Join(first, err)
					mu.Unlock()
					next.Store(int64(n)) // the others stop at their next call
					return
				}
			}
		})
	}
	t := time.Now()
	close(start)
	wg.Wait()
	took := time.Since(t)
	if first != nil {
		return 0, first
	}
	return float64(n) / took.Seconds(), nil
}

// bigEchoes echoes payload n times, one at a time: MiB of payload echoed
// per second (a 1 MiB value out and back counts once).
func bigEchoes(ctx context.Context, c Conn, payload string, n int, settle func()) (float64, error) {
	settle()
	start := time.Now()
	for range n {
		back, err := c.Echo(ctx, payload)
		if err = errors.Join(err, checkEcho(back, payload)); err != nil {
			return 0, err
		}
	}
	return float64(n) * float64(len(payload)) / (1 << 20) / time.Since(start).Seconds(), nil
}

func checkEcho(back, sent string) error {
	if back != sent {
		return fmt.Errorf("the echo differs from what was sent (%d bytes back, %d sent)", len(back), len(sent))
	}
	return nil
}

// processCPU is this process's user plus system CPU so far.
func processCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}
