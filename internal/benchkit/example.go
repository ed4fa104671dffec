// The example row: a consumer's mocked suite beside its second integration
// run on a warm host (PYHARNESS_REUSE=1), in the same interleaved rounds.

package benchkit

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Example is the example row: `ginkgo -p` on the example's unit (mocked)
// test binary and on its integration test binary with PYHARNESS_REUSE=1,
// both built once beforehand, in rounds after a first reused run that
// warms the host (discarded); the order of the two rotates every round.
type Example struct {
	Dir    string `json:"dir"`
	Rounds int    `json:"rounds"`
	// Medians of the rounds, wall time of the whole ginkgo command.
	MockedMS float64 `json:"mocked_ms"`
	ReusedMS float64 `json:"reused_ms"`
	// Ratio is ReusedMS over MockedMS; RatioMin and RatioMax the lowest and
	// highest of the rounds' own ratios.
	Ratio    float64   `json:"ratio"`
	RatioMin float64   `json:"ratio_min"`
	RatioMax float64   `json:"ratio_max"`
	Mocked   []float64 `json:"mocked_rounds_ms"`
	Reused   []float64 `json:"reused_rounds_ms"`
	// Interpreters is the last reused run's summary of them ("0 spawned, 7
	// forked"), Host how it found its host ("reused, warm from ...").
	Interpreters string `json:"interpreters"`
	Host         string `json:"host"`
}

// ExampleConfig says which example and how: Dir holds the mocked suite and
// Integration (a package directory under it) the integration suite; Env is
// the environment of every run (a cache dir of the measurement's own).
type ExampleConfig struct {
	Dir         string
	Integration string
	Rounds      int
	Env         []string
}

var (
	interpretersLine = regexp.MustCompile(`pyharness: .*interpreters: ([^;]*);`)
	hostLine         = regexp.MustCompile(`pyharness: pool host ([^\n]*)`)
)

// RunExample builds the example's two test binaries (go test -c) and
// times the rounds.
func RunExample(ctx context.Context, cfg ExampleConfig) (*Example, error) {
	if cfg.Rounds < 1 {
		return nil, fmt.Errorf("example: wants at least 1 round, got %d", cfg.Rounds)
	}
	ginkgo, err := goOutput(ctx, cfg.Dir, "tool", "-n", "ginkgo")
	if err != nil {
		return nil, fmt.Errorf("example: the example's ginkgo: %w", err)
	}
	// In their packages' directories, where ginkgo runs a compiled suite
	// (the suites find their Python code and cassettes from there).
	unit := filepath.Join(cfg.Dir, "pyharness-bench-unit.test")
	integration := filepath.Join(cfg.Dir, cfg.Integration, "pyharness-bench-integration.test")
	defer os.Remove(unit)
	defer os.Remove(integration)
	if _, err := goOutput(ctx, cfg.Dir, "test", "-c", "-o", unit, "."); err != nil {
		return nil, fmt.Errorf("example: build the unit suite: %w", err)
	}
	if _, err := goOutput(ctx, cfg.Dir, "test", "-c", "-o", integration, "./"+cfg.Integration); err != nil {
		return nil, fmt.Errorf("example: build the integration suite: %w", err)
	}
	// Each binary runs in its package's directory, as ginkgo runs a package.
	mocked := func() (float64, string, error) {
		return timeRun(ctx, cfg.Dir, cfg.Env, ginkgo, "-p", unit)
	}
	reused := func() (float64, string, error) {
		return timeRun(ctx, filepath.Join(cfg.Dir, cfg.Integration), append(slices.Clip(cfg.Env), "PYHARNESS_REUSE=1"),
			ginkgo, "-p", "--label-filter=integration", integration)
	}
	return ExampleRounds(cfg.Dir, cfg.Rounds, mocked, reused)
}

// ExampleRun is one timed run: its wall time (ms) and its output.
type ExampleRun func() (float64, string, error)

// ExampleRounds times the rounds of the example row: a first reused run
// (it warms the host; discarded), then rounds of one mocked and one reused
// run, the order rotated every round; the figures are the medians, and the
// reused runs' summary lines say how many interpreters they started.
func ExampleRounds(dir string, rounds int, mocked, reused ExampleRun) (*Example, error) {
	if rounds < 1 {
		return nil, fmt.Errorf("example: wants at least 1 round, got %d", rounds)
	}
	if _, _, err := reused(); err != nil { // the first run: it starts the host
		return nil, err
	}
	ex := &Example{Dir: dir, Rounds: rounds}
	var ratios []float64
	for i := range rounds {
		var m, r float64
		var out string
		var err error
		if i%2 == 0 {
			if m, _, err = mocked(); err == nil {
				r, out, err = reused()
			}
		} else if r, out, err = reused(); err == nil {
			m, _, err = mocked()
		}
		if err != nil {
			return nil, err
		}
		ex.Mocked, ex.Reused = append(ex.Mocked, m), append(ex.Reused, r)
		ratios = append(ratios, r/m)
		if g := interpretersLine.FindStringSubmatch(out); g != nil {
			ex.Interpreters = g[1]
		}
		if g := hostLine.FindStringSubmatch(out); g != nil {
			ex.Host = strings.TrimSpace(g[1])
		}
	}
	ex.MockedMS, ex.ReusedMS = Median(ex.Mocked), Median(ex.Reused)
	ex.Ratio = ex.ReusedMS / ex.MockedMS
	ex.RatioMin, ex.RatioMax = slices.Min(ratios), slices.Max(ratios)
	return ex, nil
}

// Text is the row's figure.
func (e *Example) Text() string {
	s := fmt.Sprintf("mocked %.0f ms; second reused run %.0f ms: %.2fx [%.2f-%.2f]", e.MockedMS, e.ReusedMS, e.Ratio, e.RatioMin, e.RatioMax)
	if e.Interpreters != "" {
		s += "; interpreters " + e.Interpreters
	}
	return s
}

func goOutput(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// timeRun runs name args in dir with env and returns its wall time (ms)
// and output; a failing run is an error with its output's tail.
func timeRun(ctx context.Context, dir string, env []string, name string, args ...string) (float64, string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	took := float64(time.Since(start).Microseconds()) / 1000
	if err != nil {
		tail := out.String()
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		return 0, "", fmt.Errorf("example: %s in %s: %w\n%s", cmd, dir, err, tail)
	}
	return took, out.String(), nil
}
