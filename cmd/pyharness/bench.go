package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/pyharness/pyharness/internal/benchkit"
)

var benchCommand = &command{
	name:    "bench",
	summary: "start interpreters with each strategy side by side; time Fresh, ping and fairness",
	doc: `Bench starts interpreters with each start-up strategy side by side (seed:
one at a time with a pause, sequential, parallel, zygote fork), then times
Fresh workers forked from a zygote, pings and bare echoes, and how fairly a
busy pool of 2 serves 16 callers. With --backend container it times the
container backend's cold start and warm reuse instead.`,
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
		return func(ctx context.Context, _ []string, stdout, stderr io.Writer) int {
			rep, err := runBench(ctx, benchConfig{
				Workers:    *workers,
				ImportCPU:  *importCPU,
				Strategies: benchkit.ParseStrategies(*strategies),
				Forks:      *forks,
				Pings:      *pings,
				SeedSleep:  *seedSleep,
				Backend:    *backend,
				FairCalls:  *fair,
			})
			if err != nil {
				fmt.Fprintf(stderr, "pyharness bench: %v\n", err)
				return 1
			}
			if *asJSON {
				if err := rep.WriteJSON(stdout); err != nil {
					fmt.Fprintf(stderr, "pyharness bench: %v\n", err)
					return 1
				}
				return 0
			}
			rep.WriteTable(stdout)
			return 0
		}
	},
}
