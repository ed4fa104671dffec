package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/pyharness/pyharness/internal/benchkit"
	"github.com/pyharness/pyharness/realpy"
)

// concurrencyConfig is what the concurrency rows measure: a fan-out of
// FanOut async calls that each await Nap, and Calls tiny echoes that
// Callers share; Rounds 0 skips the rows.
type concurrencyConfig struct {
	Rounds  int
	FanOut  int
	Nap     time.Duration
	Serial  bool // also time the fan-out on a worker serving one call at a time
	Callers int
	Calls   int
}

// runConcurrency measures the concurrency rows on python: each round times
// the fan-out on one worker with WithConcurrency(FanOut), then the
// throughput of one worker with WithConcurrency(Callers) and of a pool of
// Callers workers, the order of the two alternating by round.
func runConcurrency(ctx context.Context, cfg concurrencyConfig, python string) (*benchkit.Concurrency, error) {
	dir, err := os.MkdirTemp("", "pyharness-bench-concurrency-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := benchkit.WriteFanOutModule(dir); err != nil {
		return nil, err
	}
	base := []realpy.Option{realpy.WithPython(python), realpy.WithPythonPath(dir), realpy.WithModules(benchkit.FanOutModuleName)}
	start := func(concurrency, size int) (*realpy.Pool, error) {
		p, err := realpy.StartPool(ctx, append(base, realpy.WithConcurrency(concurrency), realpy.WithSize(size), realpy.WithStrategy(realpy.Spawn))...)
		if err != nil {
			closeQuietly(p)
			return nil, err
		}
		return p, nil
	}
	fan, err := start(cfg.FanOut, 1)
	if err != nil {
		return nil, err
	}
	defer fan.Close()
	one, err := start(cfg.Callers, 1)
	if err != nil {
		return nil, err
	}
	defer one.Close()
	many, err := start(1, cfg.Callers)
	if err != nil {
		return nil, err
	}
	defer many.Close()
	if _, err := benchkit.FanOut(ctx, fan, cfg.FanOut, 0); err != nil { // warm-up
		return nil, fmt.Errorf("fan-out: %w", err)
	}
	var fanOuts, oneRates, manyRates []float64
	for round := range cfg.Rounds + 1 { // round 0 warms up
		took, err := benchkit.FanOut(ctx, fan, cfg.FanOut, cfg.Nap)
		if err != nil {
			return nil, fmt.Errorf("fan-out: %w", err)
		}
		pools := []*realpy.Pool{one, many}
		if round%2 == 1 {
			pools = []*realpy.Pool{many, one}
		}
		rates := map[*realpy.Pool]float64{}
		for _, p := range pools {
			if rates[p], err = benchkit.Throughput(ctx, p, cfg.Callers, cfg.Calls); err != nil {
				return nil, fmt.Errorf("throughput: %w", err)
			}
		}
		if round > 0 {
			fanOuts = append(fanOuts, ms(took))
			oneRates, manyRates = append(oneRates, rates[one]), append(manyRates, rates[many])
		}
	}
	c := &benchkit.Concurrency{Rounds: cfg.Rounds, FanOut: cfg.FanOut, NapMS: int(cfg.Nap.Milliseconds()), FanOutMS: benchkit.Median(fanOuts),
		Callers: cfg.Callers, Calls: cfg.Calls, OneWorkerRate: benchkit.Median(oneRates), WorkersRate: benchkit.Median(manyRates)}
	if cfg.Serial {
		serial, err := start(1, 1)
		if err != nil {
			return nil, err
		}
		defer serial.Close()
		took, err := benchkit.FanOut(ctx, serial, cfg.FanOut, cfg.Nap)
		if err != nil {
			return nil, fmt.Errorf("fan-out one at a time: %w", err)
		}
		c.FanOutSerialMS = ms(took)
	}
	return c, nil
}
