package realpy_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/pyharness/pyharness/realpy"
)

// BenchmarkOpenMPFits is concurrent scikit-learn gradient-boosting fits
// (GNU OpenMP) on a pool of 3, with the default OpenMP wait policy, on
// Debian's /usr/bin/python3 with python3-sklearn: one fit alone, then 3 at
// once, with the pool's default thread limits and without them. Without
// limits each worker's OpenMP team has one busy-waiting thread per core,
// and 3 teams fight over the cores; the target is 3 at once within 3x one.
//
//	go test ./realpy -run '^$' -bench OpenMPFits -benchtime 5x
func BenchmarkOpenMPFits(b *testing.B) {
	dir, err := filepath.Abs("../suites/internal/pool/testdata")
	if err != nil {
		b.Fatal(err)
	}
	for _, limits := range []bool{true, false} {
		for _, at := range []int{1, 3} {
			b.Run(fmt.Sprintf("limits=%v/concurrent=%d", limits, at), func(b *testing.B) {
				ctx := context.Background()
				p, err := realpy.StartPool(ctx, realpy.WithPython("/usr/bin/python3"), realpy.WithPythonPath(dir),
					realpy.WithModules("omp_warmup"), realpy.WithSize(3), realpy.WithThreadLimits(limits))
				if err != nil {
					p.Close()
					b.Fatal(err)
				}
				defer p.Close()
				args := map[string]int{"n": 20000, "iters": 50}
				if err := p.Call(ctx, "fit", args, nil); err != nil { // warm: first fit
					b.Fatal(err)
				}
				b.ResetTimer()
				for range b.N {
					var wg sync.WaitGroup
					errs := make([]error, at)
					for i := range at {
						wg.Add(1)
						go func() {
							defer wg.Done()
							errs[i] = p.Call(ctx, "fit", args, nil)
						}()
					}
					wg.Wait()
					for _, err := range errs {
						if err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(p.Stats().Threads.Value), "omp-threads")
			})
		}
	}
}
