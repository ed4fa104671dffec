package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/pyharness/pyharness/internal/benchkit"
)

var benchCommand = &command{
	name:    "bench",
	summary: "start interpreters with each strategy side by side; time Fresh, ping, fairness; pyharness beside an NDJSON loop and the floor",
	doc: `Bench starts interpreters with each start-up strategy side by side (seed:
one at a time with a pause, sequential, parallel, zygote fork), then times
Fresh workers forked from a zygote, pings and bare echoes, and how fairly a
busy pool of 2 serves 16 callers. With --backend container it times the
container backend's cold start and warm reuse instead.

Then the reference rows: a pool of real workers (realpy.StartPool) beside
what a team writes instead (an os/exec loop of one JSON object per line on
a Python script's stdin and stdout) and the floor (a bare Python loop
echoing length-prefixed frames, no protocol), the same calls with the same
payloads, in --rounds rounds after one warm-up round (discarded), the
order of the three rotated every round; the medians of the rounds and
pyharness's over each: tiny echo p50 with 1 caller (unpinned, and under
taskset -c 0 with GOMAXPROCS=1 in a second process), throughput of 8 callers
on 2 workers, start to first call of one worker, 1 MiB string echoes, and
the Go CPU and allocations per small call.

--numbers FILE writes the run as the generated table of FILE (docs/numbers.md:
between its "generated" markers) and FILE's .json beside it; --markdown
prints that table instead; --from JSON takes a recorded run instead of
measuring (go run ./cmd/pyharness bench --from docs/numbers.json --numbers
docs/numbers.md renders it again).`,
	setup: func(fs *flag.FlagSet) func(context.Context, []string, io.Writer, io.Writer) int {
		workers := fs.Int("workers", 8, "interpreters per strategy")
		importCPU := fs.Duration("import-cpu", 500*time.Millisecond, "CPU time the handler module burns at import")
		strategies := fs.String("strategies", "seed,sequential,parallel,zygote", "strategies to run, comma-separated")
		forks := fs.Int("fresh", 50, "Fresh workers to fork and time")
		pings := fs.Int("pings", 10000, "pings (and bare echoes) to time")
		seedSleep := fs.Duration("seed-sleep", 500*time.Millisecond, "pause between interpreters in the seed strategy")
		fair := fs.Int("fairness", 16000, "16-byte echoes that 16 callers share on a pool of 2 (calls per caller, worst wait); 0 skips")
		asJSON := fs.Bool("json", false, "print one JSON object instead of a table")
		backend := fs.String("backend", "process", "process: start-up strategies side by side; container: cold start and warm reuse of the container backend")
		rounds := fs.Int("rounds", 5, "measured rounds of the reference rows (after one warm-up round); 0 skips them")
		refCalls := fs.Int("ref-calls", 2000, "reference rows: tiny echoes per implementation per round, one at a time")
		refThroughput := fs.Int("ref-throughput", 8000, "reference rows: tiny echoes per implementation per round that 8 callers share on 2 workers; 0 skips")
		refBig := fs.Int("ref-big", 20, "reference rows: 1 MiB string echoes per implementation per round; 0 skips")
		refStarts := fs.Int("ref-starts", 3, "reference rows: starts to first call per implementation per round; 0 skips")
		pinned := fs.Bool("pinned", true, "reference rows: also time the tiny echo under taskset -c CPU with GOMAXPROCS=1 (a second process), if taskset is on PATH")
		concRounds := fs.Int("concurrency-rounds", 3, "many calls per worker: measured rounds (after a warm-up round) of the fan-out and the throughput rows; 0 skips them")
		fanOut := fs.Int("fan-out", 64, "many calls per worker: concurrent calls of an async handler that awaits --nap, on one worker with WithConcurrency(--fan-out)")
		nap := fs.Duration("nap", 100*time.Millisecond, "many calls per worker: how long each fan-out call awaits")
		serial := fs.Bool("fan-out-serial", true, "many calls per worker: also time the fan-out once on a worker serving one call at a time (--fan-out x --nap)")
		concCalls := fs.Int("concurrency-calls", 8000, "many calls per worker: tiny echoes per round that 8 callers share, on one worker with WithConcurrency(8) and on 8 workers")
		example := fs.String("example", "", "the example row: this example's mocked suite beside its second reused integration run (PYHARNESS_REUSE=1), e.g. examples/sentiment; builds its two test binaries once (tens of seconds), so off by default")
		exampleRounds := fs.Int("example-rounds", 5, "the example row: measured rounds (after a first reused run that warms the host)")
		refOnly := fs.Bool("reference-only", false, "measure the reference rows alone (no start-up strategies, reuse, Fresh, pings or fairness)")
		pinnedChild := fs.Bool("pinned-child", false, "internal: the pinned process of --pinned (prints the reference rows' JSON)")
		markdown := fs.Bool("markdown", false, "print the generated Numbers table (markdown) instead of a table")
		numbers := fs.String("numbers", "", "write the generated Numbers table into this file (between its markers) and the run's JSON beside it")
		from := fs.String("from", "", "measure nothing: take the run from this JSON file (--json's output, or docs/numbers.json) and print or write it")
		return func(ctx context.Context, _ []string, stdout, stderr io.Writer) int {
			refCfg := benchkit.RefConfig{Rounds: *rounds, Calls: *refCalls, ThroughputCalls: *refThroughput,
				Callers: 8, Workers: 2, BigCalls: *refBig, Starts: *refStarts}
			if *pinnedChild {
				return runPinnedChild(ctx, refCfg, stdout, stderr)
			}
			var rep *benchkit.Report
			var err error
			if *from != "" {
				rep, err = readReport(*from)
				if err != nil {
					fmt.Fprintf(stderr, "pyharness bench: %v\n", err)
					return 1
				}
			} else {
				rep, err = runBench(ctx, benchConfig{
					Workers:       *workers,
					ImportCPU:     *importCPU,
					Strategies:    benchkit.ParseStrategies(*strategies),
					Forks:         *forks,
					Pings:         *pings,
					SeedSleep:     *seedSleep,
					Backend:       *backend,
					FairCalls:     *fair,
					Reference:     refCfg,
					Pinned:        *pinned,
					ReferenceOnly: *refOnly,
					Example:       *example,
					ExampleRounds: *exampleRounds,
					Concurrency: concurrencyConfig{Rounds: *concRounds, FanOut: *fanOut, Nap: *nap, Serial: *serial,
						Callers: 8, Calls: *concCalls},
				})
				if err != nil {
					fmt.Fprintf(stderr, "pyharness bench: %v\n", err)
					return 1
				}
				rep.Command = commandLine(fs)
			}
			if *numbers != "" {
				err = benchkit.WriteNumbers(*numbers, rep)
			}
			switch {
			case err != nil:
			case *asJSON:
				err = rep.WriteJSON(stdout)
			case *markdown:
				_, err = io.WriteString(stdout, benchkit.RenderNumbers(rep))
			default:
				rep.WriteTable(stdout)
			}
			if err != nil {
				fmt.Fprintf(stderr, "pyharness bench: %v\n", err)
				return 1
			}
			return 0
		}
	},
}

// commandLine is the bench command as run, with the flags that change what
// is measured (not those that only choose the output).
func commandLine(fs *flag.FlagSet) string {
	parts := []string{"pyharness bench"}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "json", "markdown", "numbers", "pinned-child", "from":
			return
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			parts = append(parts, "--"+f.Name+"="+f.Value.String())
			return
		}
		parts = append(parts, "--"+f.Name+" "+quoteArg(f.Value.String()))
	})
	return strings.Join(parts, " ")
}

func quoteArg(s string) string {
	if s != "" && !strings.ContainsAny(s, " '\"\\|&;$`*?<>()") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// readReport reads a run that --json (or --numbers) wrote.
func readReport(path string) (*benchkit.Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rep benchkit.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if rep.Reference != nil { // what follows from the rounds, again (a run recorded by an older bench)
		for i := range rep.Reference.Rows {
			rep.Reference.Rows[i].Finish()
		}
	}
	return &rep, nil
}
