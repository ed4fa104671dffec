// Many calls per worker (realpy.WithConcurrency): an agent's fan-out of
// waiting async calls on one worker, and small calls from many callers on
// one multiplexing worker against as many workers.

package benchkit

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pyharness/pyharness"
)

// FanOutModule is the Python module of the fan-out (its "nap" handler
// awaits asyncio.sleep), named FanOutModuleName.
//
//go:embed fanout_handlers.py
var FanOutModule string

// FanOutModuleName is the module name of FanOutModule.
const FanOutModuleName = "pyharness_fanout"

// WriteFanOutModule writes FanOutModule into dir, for WithPythonPath(dir)
// and WithModules(FanOutModuleName).
func WriteFanOutModule(dir string) error {
	return os.WriteFile(filepath.Join(dir, FanOutModuleName+".py"), []byte(FanOutModule), 0o644)
}

// Concurrency holds the concurrency rows of a run: medians of Rounds.
type Concurrency struct {
	Rounds   int     `json:"rounds"`
	FanOut   int     `json:"fan_out"`    // concurrent calls of the fan-out
	NapMS    int     `json:"nap_ms"`     // how long each awaits
	FanOutMS float64 `json:"fan_out_ms"` // all of them on one worker with WithConcurrency(FanOut)
	// The same fan-out on one worker serving one call at a time (0: not measured).
	FanOutSerialMS float64 `json:"fan_out_serial_ms,omitempty"`
	Callers        int     `json:"callers"`                     // small-call throughput: callers sharing...
	Calls          int     `json:"calls"`                       // ...this many tiny echoes per round
	OneWorkerRate  float64 `json:"one_worker_calls_per_s"`      // one worker with WithConcurrency(Callers)
	WorkersRate    float64 `json:"callers_workers_calls_per_s"` // a pool of Callers workers, one call each at a time
}

// FanOut makes calls concurrent calls of nap(sleep) through c and returns
// how long they took together.
func FanOut(ctx context.Context, c pyharness.Caller, calls int, sleep time.Duration) (time.Duration, error) {
	errs := make(chan error, calls)
	start := time.Now()
	for range calls {
		go func() { errs <- c.Call(ctx, "nap", sleep.Seconds(), nil) }()
	}
	var first error
	for range calls {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return time.Since(start), first
}

// Throughput has callers goroutines share calls tiny echoes through c and
// returns the calls per second.
func Throughput(ctx context.Context, c pyharness.Caller, callers, calls int) (float64, error) {
	return share(callers, calls, func() error {
		var back string
		return c.Call(ctx, "echo", "a small call", &back)
	})
}

// ThroughputOf is Throughput for calls of method with args (their results
// not decoded).
func ThroughputOf(ctx context.Context, c pyharness.Caller, callers, calls int, method string, args any) (float64, error) {
	return share(callers, calls, func() error { return c.Call(ctx, method, args, nil) })
}

// share has callers goroutines make calls calls of call between them and
// returns the calls per second; the first error stops its caller.
func share(callers, calls int, call func() error) (float64, error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	start := time.Now()
	for range callers {
		wg.Go(func() {
			for next.Add(1) <= int64(calls) {
				if err := call(); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if first != nil {
		return 0, first
	}
	return float64(calls) / time.Since(start).Seconds(), nil
}

// fanOutText and throughputText are the rows' figures, for RenderNumbers and WriteTable.
func (c *Concurrency) fanOutText() string {
	text := fmt.Sprintf("%.0f ms (%.1f calls in flight on average)", c.FanOutMS, float64(c.FanOut*c.NapMS)/c.FanOutMS)
	if c.FanOutSerialMS > 0 {
		text += fmt.Sprintf("; one at a time: %.0f ms (%.1fx faster with WithConcurrency)", c.FanOutSerialMS, c.FanOutSerialMS/c.FanOutMS)
	}
	return text
}

func (c *Concurrency) throughputText() string {
	return fmt.Sprintf("one worker with WithConcurrency(%d): %s calls/s; %d workers: %s calls/s (%.2fx)",
		c.Callers, FormatValue(RowThroughput, c.OneWorkerRate), c.Callers, FormatValue(RowThroughput, c.WorkersRate), c.OneWorkerRate/c.WorkersRate)
}
