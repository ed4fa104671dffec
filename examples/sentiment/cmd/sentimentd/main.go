// Command sentimentd is the example's production program: it classifies
// each line of its input with the Python classifier, through a warm pool of
// real Python workers (package realpy) behind the call contract
// (pyharness.Caller). It links no test framework, no Docker client: CI
// checks its dependencies with `go list -deps`.
//
//	echo "great phone" | go run ./cmd/sentimentd -handlers python
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"example.com/sentiment"

	"github.com/pyharness/pyharness/realpy"
)

func main() {
	handlers := flag.String("handlers", "python", "directory holding sentiment_handlers.py")
	workers := flag.Int("workers", 2, "Python workers to keep warm")
	flag.Parse()
	if err := run(*handlers, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "sentimentd:", err)
		os.Exit(1)
	}
}

func run(handlers string, workers int) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	pool, err := realpy.StartPool(ctx,
		realpy.WithSize(workers),
		realpy.WithStrategy(realpy.ZygoteFork),
		realpy.WithPythonPath(handlers),
		realpy.WithModules("sentiment_handlers"),
		realpy.WithOutput(os.Stderr))
	defer pool.Close() // also after a partial start; nil-safe
	if err != nil {
		return err
	}
	classifier := sentiment.NewClassifier(pool)
	lines := bufio.NewScanner(os.Stdin)
	for lines.Scan() {
		v, err := classifier.Classify(ctx, lines.Text())
		if err != nil {
			fmt.Printf("error\t%v\n", err)
			continue
		}
		fmt.Printf("%s\t%.3f\n", v.Label, v.Score)
	}
	return lines.Err()
}
