// Package benchkit measures interpreter start-up strategies side by side,
// for `pyharness bench` and the Go benchmarks.
package benchkit

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/pyharness/pyharness/internal/spawnsock"
	"github.com/pyharness/pyharness/internal/workersrc"
	"github.com/pyharness/pyharness/realpy"
	"github.com/pyharness/pyharness/wire"
)

// Config is what to measure.
type Config struct {
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
}

// Result is one strategy's start-up.
type Result struct {
	Strategy     string  `json:"strategy"`
	ReadyMS      float64 `json:"ready_ms"`
	Interpreters int64   `json:"interpreters"` // processes that paid for the import
	Forked       int64   `json:"forked"`
}

// Report is the whole run, in the shape of `pyharness bench --json`.
type Report struct {
	Workers        int      `json:"workers"`
	ImportCPUMS    int64    `json:"import_cpu_ms"`
	SingleMS       float64  `json:"single_ms"` // one zygote worker ready, zygote start included
	Results        []Result `json:"results"`
	FreshMedianMS  float64  `json:"fresh_median_ms"`
	PingP50US      float64  `json:"ping_p50_us"`
	PingP99US      float64  `json:"ping_p99_us"`
	RawEchoP50US   float64  `json:"raw_echo_p50_us"`
	RawEchoP99US   float64  `json:"raw_echo_p99_us"`
	PingOverRawP50 float64  `json:"ping_over_raw_p50"`
	Python         string   `json:"python"`
	Backend        string   `json:"backend"`
	// Container backend: pool ready with a fresh container (image present),
	// and attached to the warm container a previous run left (reuse).
	ContainerColdMS float64 `json:"container_cold_ms,omitempty"`
	ContainerWarmMS float64 `json:"container_warm_ms,omitempty"`
	// Process backend with reuse (realpy.StartHost): a pool of Workers
	// forked from a warm host, ready in the first run (which starts the
	// host) and in the second (which reuses it).
	ReuseFirstMS  float64 `json:"reuse_first_ms,omitempty"`
	ReuseSecondMS float64 `json:"reuse_second_ms,omitempty"`
	// 16 callers sharing a pool of 2 (Config.FairCalls calls in all).
	Fairness *Fairness `json:"fairness,omitempty"`
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

// Run measures every configured strategy, then Fresh, ping and bare echo.
func Run(ctx context.Context, cfg Config) (*Report, error) {
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
	python, err := realpy.FindPython(context.Background(), "") // resolve a shim once, outside the timings
	if err != nil {
		return nil, err
	}
	rep := &Report{Workers: cfg.Workers, ImportCPUMS: cfg.ImportCPU.Milliseconds(), Python: python, Backend: "process"}
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
		rep.FreshMedianMS = ms(Percentile(forks, 50))
	}
	if cfg.Pings > 0 {
		pings, echoes, err := timeRoundTrips(ctx, pool, python, cfg.Pings)
		if err != nil {
			return nil, err
		}
		rep.PingP50US, rep.PingP99US = us(Percentile(pings, 50)), us(Percentile(pings, 99))
		rep.RawEchoP50US, rep.RawEchoP99US = us(Percentile(echoes, 50)), us(Percentile(echoes, 99))
		rep.PingOverRawP50 = rep.PingP50US / rep.RawEchoP50US
	}
	if cfg.FairCalls > 0 {
		shared, err := realpy.StartPool(ctx, append(opts, realpy.WithSize(2), realpy.WithStrategy(realpy.ZygoteFork))...)
		if err != nil {
			closeQuietly(shared)
			return nil, err
		}
		defer shared.Close()
		f, err := MeasureFairness(ctx, shared, 16, cfg.FairCalls, 16)
		if err != nil {
			return nil, fmt.Errorf("fairness: %w", err)
		}
		rep.Fairness = &f
	}
	return rep, nil
}

func runStrategy(ctx context.Context, name string, cfg Config, opts []realpy.Option) (Result, error) {
	r := Result{Strategy: name}
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
	e, err := StartBareEcho(python)
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

// BareEcho is the floor of a round trip: the same interpreter echoing raw
// frames over the same kind of socket, with no JSON and no dispatch.
type BareEcho struct {
	conn net.Conn
	cmd  *exec.Cmd
}

// StartBareEcho starts python running pyharness_worker.bare_echo.
func StartBareEcho(python string) (*BareEcho, error) {
	source, err := workersrc.Dir()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(python, "-m", "pyharness_worker.bare_echo", "--fd", "3")
	cmd.Env = append(os.Environ(), "PYTHONPATH="+source)
	cmd.Stderr = os.Stderr
	conns, err := spawnsock.Start(cmd, 1)
	if err != nil {
		return nil, err
	}
	conn := conns[0]
	return &BareEcho{conn: conn, cmd: cmd}, nil
}

var echoFrame, _ = wire.AppendFrame(nil, []byte(`{"id":1,"method":"ping","args":null}`), wire.DefaultMaxFrame)

// RoundTrip sends one ping-sized frame and reads it back.
func (e *BareEcho) RoundTrip() error {
	_, err := e.Echo(echoFrame)
	return err
}

// Echo sends frame (header included) and returns the payload read back.
func (e *BareEcho) Echo(frame []byte) ([]byte, error) {
	if _, err := e.conn.Write(frame); err != nil {
		return nil, err
	}
	return wire.ReadFrame(e.conn, wire.DefaultMaxFrame)
}

// Close ends the echo loop (EOF) and reaps the process.
func (e *BareEcho) Close() error {
	e.conn.Close()
	return e.cmd.Wait()
}

// ParseStrategies splits a comma-separated list.
func ParseStrategies(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func closeQuietly(p *realpy.Pool) {
	if p != nil {
		_ = p.Close()
	}
}

// measureReuse times two runs with reuse on, in a cache directory of their
// own (so the first run finds no host): until a pool of cfg.Workers forked
// from the warm host is ready. The host is stopped afterwards.
func measureReuse(ctx context.Context, cfg Config, opts []realpy.Option) (first, second float64, err error) {
	cache, err := os.MkdirTemp("", "pyharness-bench-cache-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(cache)
	old, had := os.LookupEnv("PYHARNESS_CACHE_DIR")
	os.Setenv("PYHARNESS_CACHE_DIR", cache)
	defer func() {
		_, _ = realpy.StopHosts("")
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
		p, err := realpy.StartPool(ctx, realpy.WithSize(cfg.Workers), realpy.WithZygoteAddr(h.Addr()))
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
