package gotest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pyharness/pyharness"
	"github.com/pyharness/pyharness/cassette"
	"github.com/pyharness/pyharness/mockpy"
)

// Replay returns a mock (Mock: failures at the test's line, closed when t
// ends) that answers from the cassette at path (mockpy.ReplayCassette); a
// missing or unreadable cassette fails t at once.
//
//	py := gotest.Replay(t, "testdata/cassettes/testlabels.jsonl")
func Replay(t testing.TB, path string, opts ...cassette.Option) *mockpy.Interpreter {
	t.Helper()
	c, err := cassette.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	py := Mock(t, mockpy.WithUnusedHandlersAllowed())
	return py.ReplayCassette(c, append([]cassette.Option{cassette.WithDir(path)}, opts...)...)
}

// Record wraps py for the test t by the mode (cassette.EnvRecord, or
// cassette.WithMode): the cassette is testdata/cassettes/<test name>.jsonl
// in the package's directory (cassette.WithDir changes the directory).
// Recording, it is written when t ends, unless t failed; in verify mode the
// cassette's calls are made again on py when t ends, and t fails with the
// differences (cassette.DriftError); record once with the cassette there,
// and replay only, answer from the cassette (Replay) and call nothing of
// py; replay only fails t when the cassette is missing; off, calls just
// pass through.
func Record(t testing.TB, py pyharness.Caller, opts ...cassette.Option) *cassette.Recorder {
	t.Helper()
	cfg, err := cassette.Resolve(opts...)
	if err != nil {
		t.Fatal(err)
	}
	dir := cfg.Dir
	if dir == "" {
		dir = filepath.Join("testdata", "cassettes")
	}
	path := filepath.Join(dir, cassette.FileName(t.Name()))
	_, statErr := os.Stat(path)
	exists := statErr == nil
	switch cfg.Mode {
	case cassette.ModeRecordAll, cassette.ModeRecordOnce:
		if cfg.Mode == cassette.ModeRecordOnce && exists {
			return cassette.Passthrough(Replay(t, path, opts...)) // py is not called
		}
		rec := cassette.NewRecorder(py, opts...)
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("cassette %s not written: the test failed", path)
				return
			}
			if err := rec.Save(path); err != nil {
				t.Error(err)
			}
		})
		return rec
	case cassette.ModeVerify, cassette.ModeReplayOnly:
		c, err := cassette.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Mode == cassette.ModeReplayOnly {
			return cassette.Passthrough(Replay(t, path, opts...)) // py is not called
		}
		if cfg.Mode == cassette.ModeVerify {
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				if err := cassette.Verify(ctx, c, py); err != nil {
					t.Error(withPath(err, path))
				}
			})
		}
	}
	return cassette.Passthrough(py)
}

func withPath(err error, path string) error {
	if d, ok := err.(*cassette.DriftError); ok {
		d.Path = path
	}
	return err
}
