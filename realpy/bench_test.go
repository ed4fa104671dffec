package realpy_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pyharness/pyharness/internal/benchkit"
	"github.com/pyharness/pyharness/internal/realpyx"
	"github.com/pyharness/pyharness/realpy"
	"github.com/pyharness/pyharness/wire"
)

// BenchmarkPing is one ping round trip through realpy: encode, frame, write,
// Python decode and dispatch, reply, read, correlate, decode. Run it with
// -benchtime=10000x for the figure in the README; it reports the median and
// the 99th percentile besides the mean.
func BenchmarkPing(b *testing.B) {
	ctx := context.Background()
	w, err := realpy.Start(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	var hello realpy.Hello
	roundTrips(b, func() error { return w.Call(ctx, "ping", nil, &hello) })
}

// roundTrips times b.N calls of call, one at a time, and reports them.
func roundTrips(b *testing.B, call func() error) {
	samples := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if err := call(); err != nil {
			b.Fatal(err)
		}
		samples = append(samples, time.Since(start))
	}
	b.StopTimer()
	report(b, samples)
}

// BenchmarkEcho is a small call through the general path (args decoded,
// a handler run, its result encoded): what a call costs beside ping, whose
// reply is encoded from a cached part.
func BenchmarkEcho(b *testing.B) {
	ctx := context.Background()
	w, err := realpy.Start(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	var back string
	roundTrips(b, func() error { return w.Call(ctx, "echo", "a small call", &back) })
}

// bareEcho starts the bare echo on the interpreter the workers use, closed
// when b ends.
func bareEcho(b *testing.B) *benchkit.BareEcho {
	python, err := realpyx.FindPython(context.Background(), "")
	if err != nil {
		b.Fatal(err)
	}
	e, err := benchkit.StartBareEcho(python)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	return e
}

// BenchmarkBareEcho is the floor BenchmarkPing is measured against: the same
// interpreter echoing raw frames over the same kind of socket, with no JSON
// and no dispatch on either side.
func BenchmarkBareEcho(b *testing.B) {
	e := bareEcho(b)
	roundTrips(b, e.RoundTrip)
}

// BenchmarkStart is the cost of one worker: spawn, import, readiness ping, Close.
func BenchmarkStart(b *testing.B) {
	ctx := context.Background()
	if _, err := realpyx.FindPython(context.Background(), ""); err != nil { // resolve a shim once, outside the timing
		b.Fatal(err)
	}
	samples := make([]time.Duration, 0, b.N)
	for range b.N {
		start := time.Now()
		w, err := realpy.Start(ctx)
		if err != nil {
			b.Fatal(err)
		}
		samples = append(samples, time.Since(start))
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
	report(b, samples)
}

func report(b *testing.B, samples []time.Duration) {
	if len(samples) == 0 {
		return
	}
	b.ReportMetric(float64(benchkit.Percentile(samples, 50).Nanoseconds()), "median-ns")
	b.ReportMetric(float64(benchkit.Percentile(samples, 99).Nanoseconds()), "p99-ns")
}

// zygotePool starts a pool of size workers forked from a zygote, closed when
// the benchmark ends.
func zygotePool(b *testing.B, size int, opts ...realpy.Option) *realpy.Pool {
	p, err := realpy.StartPool(context.Background(), append([]realpy.Option{realpy.WithSize(size), realpy.WithStrategy(realpy.ZygoteFork)}, opts...)...)
	if p != nil {
		b.Cleanup(func() { p.Close() })
	}
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkPoolCall is one call through a pool of two forked workers:
// checkout, call, checkin.
func BenchmarkPoolCall(b *testing.B) {
	ctx := context.Background()
	p := zygotePool(b, 2)
	roundTrips(b, func() error { return p.Call(ctx, "echo", "hi", nil) })
}

// BenchmarkPoolCallAllocs is BenchmarkPoolCall without the timing of each
// call, for -benchmem: a small call through a pool allocates nothing in
// steady state, under a context that cannot end ("background") or one that
// can (a suite's, a program's: "cancellable"), whose interruption each
// worker registers once and keeps while calls come under it
// (client_watch.go; a context per call costs one registration, 2
// allocations).
func BenchmarkPoolCallAllocs(b *testing.B) {
	p := zygotePool(b, 2)
	cancellable, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, c := range []struct {
		name string
		ctx  context.Context
	}{{"background", context.Background()}, {"cancellable", cancellable}} {
		b.Run(c.name, func(b *testing.B) {
			var n int
			b.ReportAllocs()
			for range b.N {
				if err := p.Call(c.ctx, "echo", 42, &n); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPoolEcho is BenchmarkEcho through a pool of two forked workers:
// the same call, plus checkout and check-in. Its allocs/op beside
// BenchmarkEcho's are the pool's own (none in steady state).
func BenchmarkPoolEcho(b *testing.B) {
	ctx := context.Background()
	p := zygotePool(b, 2)
	var back string
	roundTrips(b, func() error { return p.Call(ctx, "echo", "a small call", &back) })
}

// BenchmarkPoolContended is 8 callers sharing a pool of two forked
// workers, small echoes: most calls wait for a worker and are handed one
// first come, first served. Its allocs/op beside BenchmarkPoolEcho's are
// what waiting costs (a waiter is recycled, not made per wait).
func BenchmarkPoolContended(b *testing.B) { contended(b) }

// BenchmarkPipelining is callers sharing a pool of spawned workers, with
// and without WithPipelining, reporting calls/s: tiny echoes on one worker
// (the Go side has a core to spare: pipelining keeps the worker busy),
// tiny echoes from 8 callers on 2 workers (every core busy), and calls
// that wait 200 us (I/O, or native code that releases the GIL).
func BenchmarkPipelining(b *testing.B) {
	for _, c := range []struct {
		name             string
		workers, callers int
		method           string
		args             any
	}{
		{"echo-1-worker-4-callers", 1, 4, "echo", "a small call"},
		{"echo-2-workers-8-callers", 2, 8, "echo", "a small call"},
		{"sleep-200us-2-workers-8-callers", 2, 8, "sleep", 0.0002},
	} {
		for _, mode := range []struct {
			name string
			opts []realpy.Option
		}{{"one-at-a-time", nil}, {"WithPipelining", []realpy.Option{realpy.WithPipelining()}}} {
			b.Run(c.name+"/"+mode.name, func(b *testing.B) {
				ctx := context.Background()
				p, err := realpy.StartPool(ctx, append([]realpy.Option{realpy.WithSize(c.workers)}, mode.opts...)...)
				if p != nil {
					b.Cleanup(func() { p.Close() })
				}
				if err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				rate, err := benchkit.ThroughputOf(ctx, p, c.callers, b.N, c.method, c.args)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(rate, "calls/s")
			})
		}
	}
}

func contended(b *testing.B, opts ...realpy.Option) {
	ctx := context.Background()
	p := zygotePool(b, 2, opts...)
	b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var back string
		for pb.Next() {
			if err := p.Call(ctx, "echo", "a small call", &back); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkFresh is one private worker forked from a warm zygote, ready to
// serve, then closed.
func BenchmarkFresh(b *testing.B) {
	ctx := context.Background()
	p := zygotePool(b, 1)
	samples := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		w, err := p.Fresh(ctx)
		if err != nil {
			b.Fatal(err)
		}
		samples = append(samples, time.Since(start))
		b.StopTimer()
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	report(b, samples)
}

// BenchmarkFairness has 16 callers share a pool of 2, b.N calls in all
// (16-byte echoes), and reports how evenly the pool served them: calls per
// caller (min and max) and the longest any call waited and ran. Run it with
// -benchtime=16000x.
func BenchmarkFairness(b *testing.B) {
	ctx := context.Background()
	p, err := realpy.StartPool(ctx, realpy.WithSize(2))
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	b.ResetTimer()
	f, err := benchkit.MeasureFairness(ctx, p, 16, b.N, 16)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(f.MinPerCaller), "min-calls/caller")
	b.ReportMetric(float64(f.MaxPerCaller), "max-calls/caller")
	b.ReportMetric(f.WorstWaitMS, "worst-ms")
}

// BenchmarkEcho1MB sends a 1 MB string through a pool of one worker and
// back: the payload cost, in MB/s both ways (b.SetBytes counts 2 MB a call).
func BenchmarkEcho1MB(b *testing.B) {
	ctx := context.Background()
	p, err := realpy.StartPool(ctx, realpy.WithSize(1))
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	payload := strings.Repeat("x", 1<<20)
	var back string
	b.SetBytes(2 << 20)
	b.ResetTimer()
	for range b.N {
		if err := p.Call(ctx, "echo", payload, &back); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if back != payload {
		b.Fatal("the echo differs")
	}
}

// BenchmarkBareEcho1MB is the floor BenchmarkEcho1MB is measured against:
// the same 1 MB request's frame echoed back by the same interpreter with no
// JSON on either side (b.SetBytes counts 2 MB a call, as there).
func BenchmarkBareEcho1MB(b *testing.B) {
	e := bareEcho(b)
	args, err := wire.Marshal(strings.Repeat("x", 1<<20))
	if err != nil {
		b.Fatal(err)
	}
	frame, err := wire.AppendFrame(nil, []byte(`{"id":1,"method":"echo","args":`+string(args)+`}`), wire.DefaultMaxFrame)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(2 << 20)
	b.ResetTimer()
	for range b.N {
		back, err := e.Echo(frame)
		if err != nil {
			b.Fatal(err)
		}
		if len(back) != len(frame)-wire.HeaderSize {
			b.Fatalf("echoed %d bytes of %d", len(back), len(frame)-wire.HeaderSize)
		}
	}
}

// bridgeModule streams small items and calls back into Go, for the bridge
// benchmarks.
const bridgeModule = `
from pyharness_worker.bridge import call_go


def numbers(args):
    yield from range(int(args))


def ask(args):
    return call_go("answer", args)
`

func startBridgeWorker(b *testing.B) *realpy.Worker {
	b.Helper()
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pyh_bridge_bench.py"), []byte(bridgeModule), 0o644); err != nil {
		b.Fatal(err)
	}
	w, err := realpy.Start(context.Background(), realpy.WithPythonPath(dir), realpy.WithModules("pyh_bridge_bench"),
		realpy.WithCallback("answer", func(_ context.Context, args json.RawMessage) (any, error) { return args, nil }))
	if err != nil {
		b.Fatal(err)
	}
	return w
}

// BenchmarkStreamItems streams b.N small items (ints) through one worker
// in one stream: compare its items/s with BenchmarkPing's calls/s.
func BenchmarkStreamItems(b *testing.B) {
	w := startBridgeWorker(b)
	defer w.Close()
	b.ResetTimer()
	n := 0
	for _, err := range w.Stream(context.Background(), "numbers", b.N) {
		if err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.StopTimer()
	if n != b.N {
		b.Fatalf("%d items of %d", n, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "items/s")
}

// BenchmarkCallback is one call whose handler calls a Go function once:
// the call's round trip plus the callback's.
func BenchmarkCallback(b *testing.B) {
	w := startBridgeWorker(b)
	defer w.Close()
	ctx := context.Background()
	samples := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		var back int
		if err := w.Call(ctx, "ask", i, &back); err != nil {
			b.Fatal(err)
		}
		samples = append(samples, time.Since(start))
	}
	b.StopTimer()
	report(b, samples)
}
