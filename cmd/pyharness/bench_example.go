package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/pyharness/pyharness/internal/benchkit"
	"github.com/pyharness/pyharness/internal/realpyx"
)

// runExample measures the example row (--example DIR): the example's
// mocked suite beside its second reused integration run, in a cache
// directory of their own; the warm host is stopped afterwards.
func runExample(ctx context.Context, dir string, rounds int) (*benchkit.Example, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	cache, err := os.MkdirTemp("", "pyharness-bench-example-cache-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(cache)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PYHARNESS_CACHE_DIR=") && !strings.HasPrefix(kv, "PYHARNESS_REUSE=") {
			env = append(env, kv)
		}
	}
	env = append(env, "PYHARNESS_CACHE_DIR="+cache)
	defer func() {
		old, had := os.LookupEnv("PYHARNESS_CACHE_DIR")
		os.Setenv("PYHARNESS_CACHE_DIR", cache)
		_, _ = realpyx.StopHosts("")
		if had {
			os.Setenv("PYHARNESS_CACHE_DIR", old)
		} else {
			os.Unsetenv("PYHARNESS_CACHE_DIR")
		}
	}()
	return benchkit.RunExample(ctx, benchkit.ExampleConfig{Dir: abs, Integration: "integration", Rounds: rounds, Env: env})
}
