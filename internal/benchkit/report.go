// Percentiles and the report's table and JSON.

package benchkit

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Percentile returns the p-th percentile of samples (sorting them).
func Percentile(samples []time.Duration, p int) time.Duration {
	if len(samples) == 0 {
		return 0
	}
	slices.Sort(samples)
	i := len(samples) * p / 100
	if i >= len(samples) {
		i = len(samples) - 1
	}
	return samples[i]
}

// WriteTable prints rep for people.
func (rep *Report) WriteTable(w io.Writer) {
	if rep.Workers > 0 || len(rep.Results) > 0 {
		rep.writeStartups(w)
	}
	if rep.Reference != nil {
		fmt.Fprintln(w)
		rep.Reference.WriteTable(w)
	}
	if c := rep.Concurrency; c != nil {
		fmt.Fprintf(w, "\nmany calls per worker (medians of %d rounds):\n", c.Rounds)
		fmt.Fprintf(w, "  %d concurrent async calls awaiting %d ms, one worker with WithConcurrency(%d): %s\n", c.FanOut, c.NapMS, c.FanOut, c.fanOutText())
		fmt.Fprintf(w, "  %d callers, tiny echoes: %s\n", c.Callers, c.throughputText())
	}
	if e := rep.Example; e != nil {
		fmt.Fprintf(w, "\n%s, ginkgo -p, medians of %d interleaved rounds: %s\n", e.Dir, e.Rounds, e.Text())
	}
	if m := rep.Machine; m != nil {
		fmt.Fprintf(w, "\n%s\n", m.Line())
	}
}

func (rep *Report) writeStartups(w io.Writer) {
	fmt.Fprintf(w, "%d workers, each importing a module that burns %d ms of CPU (python %s)\n\n", rep.Workers, rep.ImportCPUMS, rep.Python)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "strategy\tready (ms)\tinterpreters\tforked\tvs zygote\t")
	var zygote float64
	for _, r := range rep.Results {
		if r.Strategy == "zygote" {
			zygote = r.ReadyMS
		}
	}
	for _, r := range rep.Results {
		ratio := "-"
		if zygote > 0 {
			ratio = fmt.Sprintf("%.1fx", r.ReadyMS/zygote)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%d\t%d\t%s\t\n", r.Strategy, r.ReadyMS, r.Interpreters, r.Forked, ratio)
	}
	tw.Flush()
	if rep.Backend == "container" {
		fmt.Fprintf(w, "\ncontainer backend: cold start (image present) %.0f ms, warm reuse %.0f ms, until %d forked workers are ready\n",
			rep.ContainerColdMS, rep.ContainerWarmMS, rep.Workers)
	} else {
		if rep.ReuseFirstMS > 0 {
			fmt.Fprintf(w, "\nwith reuse (PYHARNESS_REUSE=1): first run %.0f ms (starts the host), second run %.0f ms (reuses it), until %d forked workers are ready\n",
				rep.ReuseFirstMS, rep.ReuseSecondMS, rep.Workers)
		}
		fmt.Fprintf(w, "\none zygote worker ready: %.0f ms", rep.SingleMS)
	}
	if zygote > 0 && rep.SingleMS > 0 {
		fmt.Fprintf(w, " (%d zygote workers: %.2fx of one)", rep.Workers, zygote/rep.SingleMS)
	}
	fmt.Fprintln(w)
	if rep.FreshMedianMS > 0 {
		fmt.Fprintf(w, "Fresh (fork) median: %.2f ms\n", rep.FreshMedianMS)
	}
	if rep.PingP50US > 0 {
		fmt.Fprintf(w, "ping through the pool: p50 %.0f us, p99 %.0f us\n", rep.PingP50US, rep.PingP99US)
		fmt.Fprintf(w, "bare framed echo:      p50 %.0f us, p99 %.0f us (ping/echo p50: %.2fx)\n", rep.RawEchoP50US, rep.RawEchoP99US, rep.PingOverRawP50)
	}
	if f := rep.Fairness; f != nil {
		fmt.Fprintf(w, "fairness, %d callers on a pool of %d, %d echoes of %d bytes: calls per caller %d-%d, median call %.2f ms, worst (wait + call) %.2f ms\n",
			f.Callers, f.PoolSize, f.Calls, f.PayloadBytes, f.MinPerCaller, f.MaxPerCaller, f.MedianCallMS, f.WorstWaitMS)
	}
}

// WriteTable prints the reference rows for people: each measurement's
// median for every subject, and pyharness's over the others'.
func (ref *Reference) WriteTable(w io.Writer) {
	c := ref.Config
	others := "an os/exec NDJSON loop and the floor (a bare framed echo)"
	if len(ref.Subjects) > 1 && !slices.Equal(ref.Subjects, []string{SubjectPyharness, SubjectNDJSON, SubjectFloor}) {
		others = strings.Join(ref.Subjects[1:], ", ")
	}
	fmt.Fprintf(w, "pyharness beside %s: %d rounds after a warm-up, order rotated, medians\n", others, c.Rounds)
	fmt.Fprintf(w, "(ratios: pyharness over the other, the median's; in brackets the lowest and highest of the rounds' own ratios)\n")
	fmt.Fprintf(w, "(per round and implementation: %d tiny echoes, %d shared by %d callers on %d workers, %d 1 MiB echoes, %d starts; pinned: %s)\n\n",
		c.Calls, c.ThroughputCalls, c.Callers, c.Workers, c.BigCalls, c.Starts, ref.Pinned)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "measurement\tunit\t")
	for _, s := range ref.Subjects {
		fmt.Fprintf(tw, "%s\t", s)
	}
	for _, s := range ref.Subjects[min(1, len(ref.Subjects)):] {
		fmt.Fprintf(tw, "pyharness/%s\t", s)
	}
	fmt.Fprintln(tw)
	for _, r := range ref.Rows {
		fmt.Fprintf(tw, "%s\t%s\t", r.What, r.Unit)
		for _, s := range ref.Subjects {
			if v, ok := r.Values[s]; ok {
				fmt.Fprintf(tw, "%s\t", FormatValue(r.Measurement, v))
			} else {
				fmt.Fprint(tw, "-\t")
			}
		}
		for _, s := range ref.Subjects[min(1, len(ref.Subjects)):] {
			if v, ok := r.Ratios[s]; ok {
				fmt.Fprintf(tw, "%.2fx%s\t", v, r.rangeText(s))
			} else {
				fmt.Fprint(tw, "-\t")
			}
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

// WriteJSON prints rep as one JSON object.
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	return enc.Encode(rep)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }

// rangeText is " [lo-hi]" of the rounds' ratios against subject s, or "".
func (r *ReferenceRow) rangeText(s string) string {
	rr, ok := r.RatioRange[s]
	if !ok || len(r.Rounds[s]) < 2 {
		return ""
	}
	return fmt.Sprintf(" [%.2f-%.2f]", rr[0], rr[1])
}
