package gotest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/pyharness/pyharness/cassette"
	"github.com/pyharness/pyharness/mockpy"
)

// Record writes a cassette per test, named from the test's name, that
// Replay answers from; verify mode passes on the interpreter it came from.
func TestRecordThenReplay(t *testing.T) {
	dir := t.TempDir()
	source := func(t *testing.T) *mockpy.Interpreter {
		py := Mock(t)
		py.RouteToHandler("label", mockpy.RespondFunc(func(text string) (string, error) { return text + "!", nil }))
		return py
	}
	t.Run("labels", func(t *testing.T) {
		rec := Record(t, source(t), cassette.WithDir(dir), cassette.WithMode(cassette.ModeRecordAll))
		var got string
		if err := rec.Call(t.Context(), "label", "great", &got); err != nil || got != "great!" {
			t.Fatalf("got %q, %v", got, err)
		}
	})
	path := filepath.Join(dir, "testrecordthenreplay-labels.jsonl")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("no cassette: %v", err)
	}
	py := Replay(t, path)
	var got string
	if err := py.Call(t.Context(), "label", "great", &got); err != nil || got != "great!" {
		t.Fatalf("replayed %q, %v", got, err)
	}
	// go test names the second subtest labels#01: give it the cassette.
	if err := os.Rename(path, filepath.Join(dir, "testrecordthenreplay-labels-01.jsonl")); err != nil {
		t.Fatal(err)
	}
	t.Run("labels", func(t *testing.T) {
		rec := Record(t, source(t), cassette.WithDir(dir), cassette.WithMode(cassette.ModeVerify))
		if err := rec.Call(t.Context(), "label", "great", nil); err != nil {
			t.Fatal(err)
		}
	})
}

// Record once with the cassette there, and replay only, answer from the
// cassette: the Caller Record wraps is not called.
func TestRecordAnswersFromAnExistingCassette(t *testing.T) {
	for _, mode := range []cassette.Mode{cassette.ModeRecordOnce, cassette.ModeReplayOnly} {
		t.Run("mode", func(t *testing.T) {
			dir := t.TempDir()
			src := Mock(t)
			src.RouteToHandler("label", mockpy.Respond("recorded"))
			rec := cassette.NewRecorder(src)
			if err := rec.Call(t.Context(), "label", "great", nil); err != nil {
				t.Fatal(err)
			}
			if err := rec.Save(filepath.Join(dir, cassette.FileName(t.Name()))); err != nil {
				t.Fatal(err)
			}
			python := Mock(t, mockpy.WithUnusedHandlersAllowed()) // stands for real Python: no call may reach it
			var got string
			if err := Record(t, python, cassette.WithDir(dir), cassette.WithMode(mode)).Call(t.Context(), "label", "great", &got); err != nil || got != "recorded" {
				t.Fatalf("mode %v: got %q, %v; want the recorded answer", mode, got, err)
			}
			if n := len(python.Calls()); n != 0 {
				t.Fatalf("mode %v: the wrapped Caller got %d call(s); want none", mode, n)
			}
		})
	}
}
