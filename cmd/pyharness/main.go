// Command pyharness is the pyharness command line: `pyharness doctor`
// checks the machine (Python, the worker, Docker, images, a live ping through
// each backend), `pyharness bench` runs interpreter start-up strategies
// side by side and measures round trips, and `pyharness hosts` and
// `pyharness stop` list and stop the warm pool hosts kept between runs.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pyharness/pyharness/internal/benchkit"
)

const usage = `usage: pyharness <command> [flags]

commands:
  doctor   check Python, the worker, Docker and the images; print a fix for each failure
  bench    start interpreters with each strategy side by side; measure Fresh and ping
           and how fairly a busy pool serves 16 callers
           (--backend container: cold start and warm reuse of the container backend)
  hosts    list the warm pool hosts kept between runs (PYHARNESS_REUSE=1) [--json]
  stop     stop the warm pool hosts: all, or the one whose key is given
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "bench":
		return bench(ctx, args[1:], stdout, stderr)
	case "doctor":
		return doctor(ctx, stdout)
	case "hosts":
		return hosts(ctx, args[1:], stdout, stderr)
	case "stop":
		return stopHosts(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "pyharness: unknown command %q\n%s", args[0], usage)
	return 2
}

func bench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	workers := fs.Int("workers", 8, "interpreters per strategy")
	importCPU := fs.Duration("import-cpu", 500*time.Millisecond, "CPU time the handler module burns at import")
	strategies := fs.String("strategies", "seed,sequential,parallel,zygote", "strategies to run, comma-separated")
	forks := fs.Int("fresh", 50, "Fresh workers to fork and time")
	pings := fs.Int("pings", 10000, "pings (and bare echoes) to time")
	seedSleep := fs.Duration("seed-sleep", 500*time.Millisecond, "pause between interpreters in the seed strategy")
	fair := fs.Int("fairness", 16000, "16-byte echoes that 16 callers share on a pool of 2 (calls per caller, worst wait); 0 skips")
	asJSON := fs.Bool("json", false, "print one JSON object instead of a table")
	backend := fs.String("backend", "process", "process: start-up strategies side by side; container: cold start and warm reuse of the container backend")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	rep, err := benchkit.Run(ctx, benchkit.Config{
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
