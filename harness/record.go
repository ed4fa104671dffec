package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"

	"github.com/pyharness/pyharness"
	"github.com/pyharness/pyharness/cassette"
	"github.com/pyharness/pyharness/mockpy"
)

// Record wraps py for the running spec by the recording mode
// (cassette.EnvRecord, PYHARNESS_RECORD=1, or cassette.WithMode): call it in
// the spec or its BeforeEach and hand the spec's code the Recorder it
// returns, a pyharness.Caller and pyharness.Streamer.
//
//	var py *cassette.Recorder
//	BeforeEach(func() { py = harness.Record(python.Pool()) })
//
// The spec's cassette is testdata/cassettes/<the spec's full text>.jsonl
// (cassette.FileName) beside the spec's file (cassette.WithDir changes the
// directory). Recording (record once, when it is missing; record all), it
// is written when the spec ends, unless the spec failed. Record once with
// the cassette there, and replay only, answer from the cassette (a
// mockpy.Replay mock) and call nothing of py; replay only fails a spec
// whose cassette is missing. In verify mode the cassette's calls are made
// again on py when the spec ends, and the spec fails with the differences
// (*cassette.DriftError). Off (the default), calls pass through.
// The calls into Go that are recorded are those offered on the call's
// context (wire.WithCallbacks).
func Record(py pyharness.Caller, opts ...cassette.Option) *cassette.Recorder {
	GinkgoHelper()
	path, mode, err := SpecCassette(opts...)
	if err != nil {
		Fail(err.Error())
	}
	_, statErr := os.Stat(path)
	exists := statErr == nil
	switch mode {
	case cassette.ModeRecordAll, cassette.ModeRecordOnce:
		if mode == cassette.ModeRecordOnce && exists {
			return replaying(path)
		}
		rec := cassette.NewRecorder(py, opts...)
		DeferCleanup(func() error {
			if CurrentSpecReport().Failed() {
				GinkgoWriter.Printf("cassette %s not written: the spec failed\n", path)
				return nil
			}
			return rec.Save(path)
		})
		return rec
	case cassette.ModeVerify, cassette.ModeReplayOnly:
		c, err := cassette.Load(path)
		if err != nil {
			Fail(err.Error())
		}
		if mode == cassette.ModeReplayOnly {
			return replaying(path)
		}
		if mode == cassette.ModeVerify {
			DeferCleanup(func() error {
				if CurrentSpecReport().Failed() {
					return nil
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				err := cassette.Verify(ctx, c, py)
				var drift *cassette.DriftError
				if errors.As(err, &drift) {
					drift.Path = path
				}
				return err
			})
		}
	}
	return cassette.Passthrough(py)
}

// replaying answers the spec's calls from the cassette at path, on a mock
// closed when the spec ends: py is not called (go-vcr's replay).
func replaying(path string) *cassette.Recorder {
	GinkgoHelper()
	m, err := mockpy.Replay(path, mockpy.WithFailHandler(Fail))
	if err != nil {
		Fail(err.Error())
	}
	DeferCleanup(m.Close)
	return cassette.Passthrough(m)
}

// SpecCassette returns the running spec's cassette path and the recording
// mode, as Record reads them: what a unit spec replays is
// SpecCassette's path in the integration spec of the same text.
func SpecCassette(opts ...cassette.Option) (path string, mode cassette.Mode, err error) {
	cfg, err := cassette.Resolve(opts...)
	report := CurrentSpecReport()
	if report.LeafNodeLocation.FileName == "" {
		return "", cfg.Mode, fmt.Errorf("harness.Record: call it in a spec or its setup, not at the tree's construction")
	}
	dir := cfg.Dir
	if dir == "" {
		dir = filepath.Join(filepath.Dir(report.LeafNodeLocation.FileName), "testdata", "cassettes")
	}
	return filepath.Join(dir, cassette.FileName(report.FullText())), cfg.Mode, err
}
