package realpy_test

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/pyharness/pyharness/realpy"
	"github.com/pyharness/pyharness/wire"
)

// A real worker: start it, call it, close it.
func ExampleStart() {
	ctx := context.Background()
	w, err := realpy.Start(ctx)
	if err != nil {
		fmt.Println("start:", err)
		return
	}
	defer w.Close()

	var back map[string]any
	if err := w.Call(ctx, "echo", map[string]any{"big": uint64(1)<<53 + 1}, &back); err != nil {
		fmt.Println("call:", err)
		return
	}
	fmt.Println(back["big"])

	err = w.Call(ctx, "fail", map[string]string{"type": "ValueError", "message": "bad input"}, nil)
	var pyErr *wire.PythonError
	fmt.Println(errors.As(err, &pyErr), pyErr.Type, pyErr.Message)
	// Output:
	// 9007199254740993
	// true ValueError bad input
}

// A pool of workers forked from one zygote, and the event that says a
// crashed worker was replaced.
func ExampleStartPool() {
	ctx := context.Background()
	p, err := realpy.StartPool(ctx, realpy.WithSize(2), realpy.WithStrategy(realpy.ZygoteFork))
	if err != nil {
		fmt.Println("start:", err)
		if p != nil {
			p.Close()
		}
		return
	}
	defer p.Close()
	events := p.Subscribe()
	defer events.Close()

	err = p.Call(ctx, "crash", map[string]int{"code": 3}, nil)
	fmt.Println(errors.Is(err, wire.ErrWorkerExited))
	for e := range events.C {
		if e.Kind == realpy.EventReplaced {
			fmt.Println("replaced")
			break
		}
	}
	fmt.Println(p.Stats().Forked)
	// Output:
	// true
	// replaced
	// 3
}

// A pool whose workers are all busy writes the next call behind a running
// one: 8 callers on 2 workers, each call answered in turn.
func ExampleWithPipelining() {
	ctx := context.Background()
	pool, err := realpy.StartPool(ctx, realpy.WithSize(2), realpy.WithPipelining())
	if err != nil {
		fmt.Println("start:", err)
		if pool != nil {
			pool.Close()
		}
		return
	}
	defer pool.Close()

	var wg sync.WaitGroup
	var mu sync.Mutex
	sum := 0
	for i := range 8 {
		wg.Go(func() {
			var back int
			if err := pool.Call(ctx, "echo", i, &back); err != nil {
				fmt.Println("call:", err)
				return
			}
			mu.Lock()
			sum += back
			mu.Unlock()
		})
	}
	wg.Wait()
	fmt.Println(sum, pool.Stats().InFlight)
	// Output:
	// 28 0
}
