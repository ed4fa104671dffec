package fixture

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pyharness/pyharness/gotest"
	"github.com/pyharness/pyharness/realpy"
)

// importingWorker starts a worker serving fixture_importing, closed when t
// ends (after the contamination check, registered later), and prints which
// worker it is for the suite to find in the report.
func importingWorker(t *testing.T) *realpy.Worker {
	t.Helper()
	gotest.Integration(t)
	dir, err := filepath.Abs("python")
	if err != nil {
		t.Fatal(err)
	}
	w, err := realpy.Start(context.Background(), realpy.WithPythonPath(dir), realpy.WithModules("fixture_importing"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	fmt.Printf("the test's worker: %s (pid %d)\n", w.ID(), w.Pid())
	return w
}

func load(t *testing.T, w *realpy.Worker, names ...string) {
	t.Helper()
	if err := w.Call(t.Context(), "load", names, nil); err != nil {
		t.Fatal(err)
	}
}

// raisesOnce calls a method that raises and checks that it did.
func raisesOnce(t *testing.T, w *realpy.Worker, method string, args any) {
	t.Helper()
	err := w.Call(t.Context(), method, args, nil)
	if err == nil || !strings.Contains(err.Error(), "ValueError") {
		t.Fatalf("want a ValueError, got %v", err)
	}
}

func TestContaminationFreshWorkerRaisesOnce(t *testing.T) {
	w := gotest.Fresh(t)
	gotest.DetectContamination(t, w)
	raisesOnce(t, w, "fail", map[string]string{"type": "ValueError", "message": "once"})
}

func TestContaminationStartedWorkerRaisesOnce(t *testing.T) {
	w := importingWorker(t)
	gotest.DetectContamination(t, w)
	raisesOnce(t, w, "boom", "once")
}

func TestContaminationImportInAHandler(t *testing.T) {
	w := importingWorker(t)
	gotest.DetectContamination(t, w)
	load(t, w, "colorsys")
}

func TestContaminationIgnoredImport(t *testing.T) {
	w := importingWorker(t)
	gotest.DetectContamination(t, w, gotest.IgnoreModules("colorsys"))
	load(t, w, "colorsys")
}

func TestContaminationIgnoredAndNotIgnoredImports(t *testing.T) {
	w := importingWorker(t)
	gotest.DetectContamination(t, w, gotest.IgnoreModules("colorsys"))
	load(t, w, "colorsys", "graphlib")
}
