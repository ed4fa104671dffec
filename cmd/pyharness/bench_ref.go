package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/pyharness/pyharness/internal/benchkit"
	"github.com/pyharness/pyharness/internal/realpyx"
	"github.com/pyharness/pyharness/realpy"
)

// subjects are the three implementations of the reference rows, pyharness
// first: a pool of real workers (the default strategy, spawn; nothing
// imported; WithPipelining, which only the throughput row's 8 callers on 2
// workers use) through the public API, the NDJSON loop and the floor, all
// on the same interpreter.
func subjects(python string) []benchkit.Subject {
	return []benchkit.Subject{
		{Name: benchkit.SubjectPyharness, Start: func(ctx context.Context, n int) (benchkit.Conn, error) {
			p, err := realpy.StartPool(ctx, realpy.WithSize(n), realpy.WithPython(python), realpy.WithPipelining())
			if err != nil {
				closeQuietly(p)
				return nil, err
			}
			return benchkit.CallerConn(p, p.Close), nil
		}},
		benchkit.NDJSONSubject(python),
		benchkit.FloorSubject(python),
	}
}

// runReference measures the reference rows, then (pinned) the tiny echo
// again in a process of its own under taskset with GOMAXPROCS=1.
func runReference(ctx context.Context, cfg benchkit.RefConfig, python string, pinned bool) (*benchkit.Reference, error) {
	ref, err := benchkit.RunReference(ctx, cfg, subjects(python))
	if err != nil {
		return nil, err
	}
	row := benchkit.NewRow(benchkit.RowEchoP50Pinned, cfg)
	switch taskset, lookErr := exec.LookPath("taskset"); {
	case !pinned:
		ref.Pinned = "not measured (--pinned=false)"
	case lookErr != nil:
		ref.Pinned = "not measured: taskset is not on PATH"
	default:
		cpu := firstCPU()
		child, err := runPinned(ctx, taskset, cpu, cfg)
		if err != nil {
			return nil, fmt.Errorf("pinned run: %w", err)
		}
		p50 := child.Row(benchkit.RowEchoP50)
		if p50 == nil {
			return nil, fmt.Errorf("pinned run: no %s row", benchkit.RowEchoP50)
		}
		row.Rounds = p50.Rounds
		row.Finish()
		ref.Pinned = fmt.Sprintf("taskset -c %d, GOMAXPROCS=1: a second process, its own %d rounds after a warm-up, the order rotated likewise", cpu, cfg.Rounds)
	}
	// After the unpinned p50, where the tables list it.
	rows := append([]benchkit.ReferenceRow{}, ref.Rows[:1]...)
	ref.Rows = append(append(rows, row), ref.Rows[1:]...)
	return ref, nil
}

// runPinned runs this executable's bench --pinned-child under taskset -c cpu.
func runPinned(ctx context.Context, taskset string, cpu int, cfg benchkit.RefConfig) (*benchkit.Reference, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, taskset, "-c", strconv.Itoa(cpu), exe, "bench", "--pinned-child",
		"--rounds", strconv.Itoa(cfg.Rounds), "--ref-calls", strconv.Itoa(cfg.Calls))
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: %w", cmd, err)
	}
	var ref benchkit.Reference
	if err := json.Unmarshal(out.Bytes(), &ref); err != nil {
		return nil, fmt.Errorf("decode its report: %w", err)
	}
	return &ref, nil
}

// runPinnedChild is bench --pinned-child: the tiny echoes alone, printed as
// the reference rows' JSON.
func runPinnedChild(ctx context.Context, cfg benchkit.RefConfig, stdout, stderr io.Writer) int {
	python, err := realpyx.FindPython(ctx, "")
	if err == nil {
		cfg.LatencyOnly = true
		var ref *benchkit.Reference
		if ref, err = benchkit.RunReference(ctx, cfg, subjects(python)); err == nil {
			err = json.NewEncoder(stdout).Encode(ref)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "pyharness bench --pinned-child: %v\n", err)
		return 1
	}
	return 0
}

// firstCPU is the lowest CPU this process may run on (0 if unknown).
func firstCPU() int {
	var set unix.CPUSet
	if unix.SchedGetaffinity(0, &set) == nil {
		for i := range 1024 {
			if set.IsSet(i) {
				return i
			}
		}
	}
	return 0
}
