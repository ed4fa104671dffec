// pss starts 8 sklearn workers each way and sums their PSS.
package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pyharness/pyharness/realpy"
	"github.com/pyharness/pyharness/wire"
)

func pss(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		panic(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "Pss:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb
		}
	}
	panic("no Pss")
}

func main() {
	ctx := context.Background()
	handlers, _ := filepath.Abs("handlers")
	common := []realpy.Option{realpy.WithPython("/usr/bin/python3"), realpy.WithPythonPath(handlers), realpy.WithModules("skl")}
	for _, mode := range os.Args[1:] {
		start := time.Now()
		var pids []int
		var closers []func() error
		switch mode {
		case "naive":
			var mu sync.Mutex
			var wg sync.WaitGroup
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					w, err := realpy.Start(ctx, common...)
					if err != nil {
						panic(err)
					}
					if err := w.Call(ctx, "fit", 1, nil); err != nil {
						panic(err)
					}
					mu.Lock()
					pids, closers = append(pids, w.Pid()), append(closers, w.Close)
					mu.Unlock()
				}()
			}
			wg.Wait()
		default:
			opts := append([]realpy.Option{realpy.WithSize(8)}, common...)
			switch mode {
			case "spawn-eager":
				opts = append(opts, realpy.WithStrategy(realpy.Spawn))
			case "spawn-lazy":
				opts = append(opts, realpy.WithStrategy(realpy.Spawn), realpy.WithLazy())
			case "zygote":
				opts = append(opts, realpy.WithStrategy(realpy.ZygoteFork))
			}
			p, err := realpy.StartPool(ctx, opts...)
			if err != nil {
				panic(err)
			}
			closers = append(closers, p.Close)
			// 8 concurrent calls that each hold a worker until all 8 run: a lazy pool grows to 8
			var arrived sync.WaitGroup
			arrived.Add(8)
			release := make(chan struct{})
			var wg sync.WaitGroup
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					cctx := wire.WithCallbacks(ctx, map[string]wire.Callback{"hold": wire.CallbackFunc(func(context.Context, any) (any, error) {
						arrived.Done()
						<-release
						return nil, nil
					})})
					if err := p.Call(cctx, "fit_and_hold", 1, nil); err != nil {
						panic(err)
					}
				}()
			}
			arrived.Wait()
			for _, w := range p.Workers() {
				pids = append(pids, w.Pid())
			}
			if z := p.Zygote(); z != nil {
				pids = append(pids, z.Pid())
			}
			ready := time.Since(start)
			var total int64
			for _, pid := range pids {
				total += pss(pid)
			}
			close(release)
			wg.Wait()
			fmt.Printf("%-12s processes=%d pss=%.0f MiB ready-to-8-busy=%v stats=%+v\n", mode, len(pids), float64(total)/1024, ready.Round(time.Millisecond), p.Stats())
			for _, c := range closers {
				c()
			}
			continue
		}
		ready := time.Since(start)
		var total int64
		for _, pid := range pids {
			total += pss(pid)
		}
		fmt.Printf("%-12s processes=%d pss=%.0f MiB ready-to-8-busy=%v\n", mode, len(pids), float64(total)/1024, ready.Round(time.Millisecond))
		for _, c := range closers {
			c()
		}
	}
}
