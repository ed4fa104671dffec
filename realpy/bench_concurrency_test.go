package realpy_test

import (
	"context"
	"testing"
	"time"

	"github.com/pyharness/pyharness/internal/benchkit"
	"github.com/pyharness/pyharness/realpy"
)

// fanOutPool is a pool of size workers serving the fan-out module, each
// with WithConcurrency(concurrency).
func fanOutPool(b *testing.B, concurrency, size int) *realpy.Pool {
	b.Helper()
	dir := b.TempDir()
	if err := benchkit.WriteFanOutModule(dir); err != nil {
		b.Fatal(err)
	}
	p, err := realpy.StartPool(context.Background(), realpy.WithPythonPath(dir), realpy.WithModules(benchkit.FanOutModuleName),
		realpy.WithConcurrency(concurrency), realpy.WithSize(size), realpy.WithStrategy(realpy.Spawn))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = p.Close() })
	return p
}

// BenchmarkAsyncFanOut is an agent's fan-out: 64 concurrent calls of an
// async def handler that awaits 100 ms, on one worker with
// WithConcurrency(64); one op is the whole fan-out. On a worker serving one
// call at a time it takes 64 x 100 ms (the one-at-a-time sub-benchmark;
// run it with -benchtime=1x).
func BenchmarkAsyncFanOut(b *testing.B) {
	for _, c := range []struct {
		name        string
		concurrency int
	}{{"WithConcurrency(64)", 64}, {"one-at-a-time", 1}} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			p := fanOutPool(b, c.concurrency, 1)
			b.ResetTimer()
			for range b.N {
				if _, err := benchkit.FanOut(ctx, p, 64, 100*time.Millisecond); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/fan-out")
		})
	}
}

// BenchmarkSmallCalls8Callers is 8 callers making tiny echoes on one
// worker with WithConcurrency(8), against 8 callers on a pool of 8
// workers (one call each at a time); it reports calls/s.
func BenchmarkSmallCalls8Callers(b *testing.B) {
	for _, c := range []struct {
		name              string
		concurrency, size int
	}{{"one-worker-WithConcurrency(8)", 8, 1}, {"8-workers", 1, 8}} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			p := fanOutPool(b, c.concurrency, c.size)
			b.ResetTimer()
			rate, err := benchkit.Throughput(ctx, p, 8, b.N)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(rate, "calls/s")
		})
	}
}
