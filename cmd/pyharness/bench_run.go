package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/pyharness/pyharness/internal/benchkit"
	"github.com/pyharness/pyharness/internal/realpyx"
	"github.com/pyharness/pyharness/internal/workersrc"
	"github.com/pyharness/pyharness/realpy"
	"github.com/pyharness/pyharness/realpy/container"
	"github.com/testcontainers/testcontainers-go"
)

// benchConfig is what to measure.
type benchConfig struct {
	Workers    int           // interpreters per strategy
	ImportCPU  time.Duration // CPU the handler module burns at import
	Strategies []string      // of seed, sequential, parallel, zygote
	Forks      int           // Fresh calls to time
	Pings      int           // pings (and bare echoes) to time
	SeedSleep  time.Duration // the pause between interpreters of the seed strategy
	Backend    string        // "process" (default) or "container"
	// FairCalls is how many 16-byte echoes 16 callers share on a pool of
	// 2 for the fairness figures; 0 skips them.
	FairCalls int
	// Reference is the reference rows' rounds and counts (process backend;
	// Rounds 0 skips them); Pinned adds the pinned tiny echo.
	Reference benchkit.RefConfig
	Pinned    bool
	// ReferenceOnly skips everything but the reference rows.
	ReferenceOnly bool
	// Concurrency is the rows of many calls per worker (process backend).
	Concurrency concurrencyConfig
	// Example is the directory of the example row (""): its mocked suite
	// beside its second reused integration run, ExampleRounds rounds.
	Example       string
	ExampleRounds int
}

// heavyModule is a handler module whose import burns CPU, as importing a
// model library would.
const heavyModule = `"""Burns PYH_IMPORT_CPU seconds of CPU at import, like a heavy library."""
import os
import time

_end = time.process_time() + float(os.environ.get("PYH_IMPORT_CPU", "0"))
while time.process_time() < _end:
    pass


def work(args):
    return args
`

// runBench measures every configured strategy, then Fresh, ping, bare echo
// and fairness, then the reference rows; and describes the machine.
func runBench(ctx context.Context, cfg benchConfig) (*benchkit.Report, error) {
	var rep *benchkit.Report
	var err error
	if cfg.ReferenceOnly {
		if cfg.Backend != "process" || cfg.Reference.Rounds < 1 {
			return nil, fmt.Errorf("--reference-only: wants --backend process and --rounds of at least 1")
		}
		python, err := realpyx.FindPython(ctx, "")
		if err != nil {
			return nil, err
		}
		rep = &benchkit.Report{Python: python, Backend: "process"}
	} else if rep, err = runStartups(ctx, cfg); err != nil {
		return nil, err
	}
	if rep.Backend == "process" && cfg.Reference.Rounds > 0 {
		if rep.Reference, err = runReference(ctx, cfg.Reference, rep.Python, cfg.Pinned); err != nil {
			return nil, err
		}
	}
	if rep.Backend == "process" && cfg.Concurrency.Rounds > 0 {
		if rep.Concurrency, err = runConcurrency(ctx, cfg.Concurrency, rep.Python); err != nil {
			return nil, err
		}
	}
	if rep.Backend == "process" && cfg.Example != "" {
		if rep.Example, err = runExample(ctx, cfg.Example, cfg.ExampleRounds); err != nil {
			return nil, err
		}
	}
	rep.Machine = benchkit.DescribeMachine(ctx, rep.Python)
	return rep, nil
}

// runStartups measures every configured strategy, then Fresh, ping, bare
// echo and fairness (or the container backend's start-ups).
func runStartups(ctx context.Context, cfg benchConfig) (*benchkit.Report, error) {
	dir, err := os.MkdirTemp("", "pyharness-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "pyh_heavy.py"), []byte(heavyModule), 0o644); err != nil {
		return nil, err
	}
	opts := []realpy.Option{
		realpy.WithPythonPath(dir),
		realpy.WithModules("pyh_heavy"),
		realpy.WithEnv(fmt.Sprintf("PYH_IMPORT_CPU=%f", cfg.ImportCPU.Seconds())),
	}
	python, err := realpyx.FindPython(context.Background(), "") // resolve a shim once, outside the timings
	if err != nil {
		return nil, err
	}
	rep := &benchkit.Report{Workers: cfg.Workers, ImportCPUMS: cfg.ImportCPU.Milliseconds(), Python: python, Backend: "process"}
	if cfg.Backend == "container" {
		return runContainer(ctx, cfg, dir, rep)
	}

	start := time.Now()
	single, err := realpy.StartPool(ctx, append(opts, realpy.WithSize(1), realpy.WithStrategy(realpy.ZygoteFork))...)
	if err != nil {
		closeQuietly(single)
		return nil, fmt.Errorf("single zygote worker: %w", err)
	}
	rep.SingleMS = ms(time.Since(start))
	closeQuietly(single)

	for _, s := range cfg.Strategies {
		r, err := runStrategy(ctx, s, cfg, opts)
		if err != nil {
			return nil, fmt.Errorf("strategy %s: %w", s, err)
		}
		rep.Results = append(rep.Results, r)
	}

	if rep.ReuseFirstMS, rep.ReuseSecondMS, err = measureReuse(ctx, cfg, opts); err != nil {
		return nil, fmt.Errorf("reuse: %w", err)
	}

	pool, err := realpy.StartPool(ctx, append(opts, realpy.WithSize(1), realpy.WithStrategy(realpy.ZygoteFork))...)
	if err != nil {
		closeQuietly(pool)
		return nil, err
	}
	defer pool.Close()
	if cfg.Forks > 0 {
		var forks []time.Duration
		for range cfg.Forks {
			t := time.Now()
			w, err := pool.Fresh(ctx)
			if err != nil {
				return nil, fmt.Errorf("fresh: %w", err)
			}
			forks = append(forks, time.Since(t))
			if err := w.Close(); err != nil {
				return nil, err
			}
		}
		rep.FreshMedianMS = ms(benchkit.Percentile(forks, 50))
	}
	if cfg.Pings > 0 {
		pings, echoes, err := timeRoundTrips(ctx, pool, python, cfg.Pings)
		if err != nil {
			return nil, err
		}
		rep.PingP50US, rep.PingP99US = us(benchkit.Percentile(pings, 50)), us(benchkit.Percentile(pings, 99))
		rep.RawEchoP50US, rep.RawEchoP99US = us(benchkit.Percentile(echoes, 50)), us(benchkit.Percentile(echoes, 99))
		rep.PingOverRawP50 = rep.PingP50US / rep.RawEchoP50US
	}
	if cfg.FairCalls > 0 {
		shared, err := realpy.StartPool(ctx, append(opts, realpy.WithSize(2), realpy.WithStrategy(realpy.ZygoteFork))...)
		if err != nil {
			closeQuietly(shared)
			return nil, err
		}
		defer shared.Close()
		f, err := benchkit.MeasureFairness(ctx, shared, 16, cfg.FairCalls, 16)
		if err != nil {
			return nil, fmt.Errorf("fairness: %w", err)
		}
		rep.Fairness = &f
	}
	return rep, nil
}

func runStrategy(ctx context.Context, name string, cfg benchConfig, opts []realpy.Option) (benchkit.Result, error) {
	r := benchkit.Result{Strategy: name}
	start := time.Now()
	switch name {
	case "seed", "sequential":
		// The strategy of the suite this project was born from: one
		// interpreter at a time, with a fixed pause between them.
		var workers []*realpy.Worker
		defer func() {
			for _, w := range workers {
				_ = w.Close()
			}
		}()
		for i := range cfg.Workers {
			if name == "seed" && i > 0 {
				time.Sleep(cfg.SeedSleep) // measured on purpose: the anti-pattern itself
			}
			w, err := realpy.Start(ctx, opts...)
			if err != nil {
				return r, err
			}
			workers = append(workers, w)
		}
		r.ReadyMS = ms(time.Since(start))
		r.Interpreters = int64(len(workers))
	case "parallel", "zygote":
		strategy := realpy.Spawn
		if name == "zygote" {
			strategy = realpy.ZygoteFork
		}
		p, err := realpy.StartPool(ctx, append(opts, realpy.WithSize(cfg.Workers), realpy.WithStrategy(strategy))...)
		if err != nil {
			closeQuietly(p)
			return r, err
		}
		r.ReadyMS = ms(time.Since(start))
		stats := p.Stats()
		r.Interpreters, r.Forked = stats.Spawned, stats.Forked
		if err := p.Close(); err != nil {
			return r, err
		}
	default:
		return r, fmt.Errorf("unknown strategy %q (want seed, sequential, parallel or zygote)", name)
	}
	return r, nil
}

// timeRoundTrips times n pings through the pool and n bare echoes,
// interleaved in blocks of 100 so both see the same machine conditions.
func timeRoundTrips(ctx context.Context, p *realpy.Pool, python string, n int) (pings, echoes []time.Duration, err error) {
	e, err := benchkit.StartBareEcho(python)
	if err != nil {
		return nil, nil, err
	}
	defer e.Close()
	const block = 100
	pings, echoes = make([]time.Duration, 0, n), make([]time.Duration, 0, n)
	for len(pings) < n {
		for i := 0; i < block && len(pings) < n; i++ {
			t := time.Now()
			if err := p.Call(ctx, "ping", nil, nil); err != nil {
				return nil, nil, err
			}
			pings = append(pings, time.Since(t))
		}
		for i := 0; i < block && len(echoes) < n; i++ {
			t := time.Now()
			if err := e.RoundTrip(); err != nil {
				return nil, nil, err
			}
			echoes = append(echoes, time.Since(t))
		}
	}
	return pings, echoes, nil
}

func closeQuietly(p *realpy.Pool) {
	if p != nil {
		_ = p.Close()
	}
}

// measureReuse times two runs with reuse on, in a cache directory of their
// own (so the first run finds no host): until a pool of cfg.Workers forked
// from the warm host is ready. The host is stopped afterwards.
func measureReuse(ctx context.Context, cfg benchConfig, opts []realpy.Option) (first, second float64, err error) {
	cache, err := os.MkdirTemp("", "pyharness-bench-cache-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(cache)
	old, had := os.LookupEnv("PYHARNESS_CACHE_DIR")
	os.Setenv("PYHARNESS_CACHE_DIR", cache)
	defer func() {
		_, _ = realpyx.StopHosts("")
		if had {
			os.Setenv("PYHARNESS_CACHE_DIR", old)
		} else {
			os.Unsetenv("PYHARNESS_CACHE_DIR")
		}
	}()
	if _, err := workersrc.Dir(); err != nil { // unpack the worker outside the timings
		return 0, 0, err
	}
	oneRun := func() (float64, error) {
		start := time.Now()
		h, err := realpy.StartHost(ctx, opts...)
		if err != nil {
			return 0, err
		}
		p, err := realpy.StartPool(ctx, realpy.WithSize(cfg.Workers), realpyx.WithZygoteAddr[realpy.Option](h.Addr()))
		took := ms(time.Since(start))
		closeQuietly(p)
		if err != nil {
			return 0, err
		}
		return took, h.Close()
	}
	if first, err = oneRun(); err != nil {
		return 0, 0, err
	}
	second, err = oneRun()
	return first, second, err
}

// runContainer measures the container backend: a cold start (image present,
// new container) and a warm attach to a reused container, each until a pool
// of cfg.Workers forked workers is ready; then pings through that pool.
func runContainer(ctx context.Context, cfg benchConfig, dir string, rep *benchkit.Report) (*benchkit.Report, error) {
	rep.Backend = "container"
	hostPython := rep.Python
	copts := []testcontainers.ContainerCustomizer{
		container.WithOptions(realpy.WithPythonPath(dir), realpy.WithModules("pyh_heavy"),
			realpy.WithEnv(fmt.Sprintf("PYH_IMPORT_CPU=%f", cfg.ImportCPU.Seconds()))),
	}
	image, err := container.EnsureImage(ctx, container.BaseImage())
	if err != nil {
		return nil, err
	}
	rep.Python = "container image " + image + " (bare echo on the host's " + rep.Python + ")"
	ready := func(opts ...testcontainers.ContainerCustomizer) (time.Duration, *container.Container, error) {
		start := time.Now()
		c, err := container.Run(ctx, append(copts, opts...)...)
		if err != nil {
			return 0, c, err
		}
		p, err := c.StartPool(ctx, realpy.WithSize(cfg.Workers))
		elapsed := time.Since(start)
		if p != nil {
			defer p.Close()
		}
		return elapsed, c, err
	}
	cold, c, err := ready()
	if cerr := c.Close(ctx); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("container cold start: %w", err)
	}
	rep.ContainerColdMS = ms(cold)

	_, first, err := ready(container.WithReuse(true)) // leaves a warm container
	if err != nil {
		terminate(first)
		return nil, fmt.Errorf("container for reuse: %w", err)
	}
	defer terminate(first)
	warm, second, err := ready(container.WithReuse(true))
	if err != nil {
		return nil, fmt.Errorf("container warm attach: %w", err)
	}
	if !second.Reused {
		return nil, fmt.Errorf("container warm attach: the warm container was not reused")
	}
	rep.ContainerWarmMS = ms(warm)
	rep.Results = append(rep.Results, benchkit.Result{Strategy: "container-cold", ReadyMS: rep.ContainerColdMS, Interpreters: 1, Forked: int64(cfg.Workers)},
		benchkit.Result{Strategy: "container-warm", ReadyMS: rep.ContainerWarmMS, Interpreters: 0, Forked: int64(cfg.Workers)})

	if cfg.Pings > 0 {
		p, err := second.StartPool(ctx, realpy.WithSize(1))
		if err != nil {
			return nil, err
		}
		defer p.Close()
		pings, echoes, err := timeRoundTrips(ctx, p, hostPython, cfg.Pings)
		if err != nil {
			return nil, err
		}
		rep.PingP50US, rep.PingP99US = us(benchkit.Percentile(pings, 50)), us(benchkit.Percentile(pings, 99))
		rep.RawEchoP50US, rep.RawEchoP99US = us(benchkit.Percentile(echoes, 50)), us(benchkit.Percentile(echoes, 99))
		rep.PingOverRawP50 = rep.PingP50US / rep.RawEchoP50US
	}
	return rep, nil
}

func terminate(c *container.Container) {
	if c != nil && c.DockerContainer != nil {
		_ = testcontainers.TerminateContainer(c.DockerContainer)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }
