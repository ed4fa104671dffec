// Checkout fairness under contention.

package benchkit

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pyharness/pyharness"
)

// Fairness is how evenly a busy pool serves its callers.
type Fairness struct {
	Callers      int     `json:"callers"`
	PoolSize     int     `json:"pool_size"`
	Calls        int     `json:"calls"`
	MinPerCaller int     `json:"min_calls_per_caller"`
	MaxPerCaller int     `json:"max_calls_per_caller"`
	WorstWaitMS  float64 `json:"worst_call_ms"` // the longest checkout wait plus call
	MedianCallMS float64 `json:"median_call_ms"`
	PayloadBytes int     `json:"payload_bytes"`
}

// Pool is what MeasureFairness needs of a pool (a *realpy.Pool): the call
// contract and its size.
type Pool interface {
	pyharness.Caller
	Size() int
}

// MeasureFairness has callers goroutines share p for calls echo calls in
// all, each with a payload of size bytes, and reports the calls each caller
// got and the worst time a call took, waiting for a worker included.
func MeasureFairness(ctx context.Context, p Pool, callers, calls, size int) (Fairness, error) {
	var (
		next    atomic.Int64
		mu      sync.Mutex
		counts  = make([]int, callers)
		samples = make([]time.Duration, 0, calls)
		first   error
		wg      sync.WaitGroup
		payload = strings.Repeat("x", size)
	)
	for c := range callers {
		wg.Go(func() {
			for next.Add(1) <= int64(calls) {
				start := time.Now()
				err := p.Call(ctx, "echo", payload, nil)
				took := time.Since(start)
				mu.Lock()
				if err != nil {
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
				counts[c]++
				samples = append(samples, took)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if first != nil {
		return Fairness{}, first
	}
	f := Fairness{Callers: callers, PoolSize: p.Size(), Calls: calls, PayloadBytes: size,
		MinPerCaller: slices.Min(counts), MaxPerCaller: slices.Max(counts)}
	f.MedianCallMS = ms(Percentile(samples, 50))
	f.WorstWaitMS = ms(samples[len(samples)-1])
	return f, nil
}
