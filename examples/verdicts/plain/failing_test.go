//go:build verdicts

// The tests of the verdicts example that fail on purpose, one per failure
// kind, behind the build tag `verdicts`; ci/verdicts checks what the
// failures say. The lines marked `verdict:` are the ones a failure must
// point at.
package plain_test

import (
	"context"
	"testing"

	"github.com/pyharness/pyharness/gotest"
	"github.com/pyharness/pyharness/mockpy"
	"github.com/pyharness/pyharness/realpy"

	"example.com/verdicts"
)

func TestMockUnmet(t *testing.T) {
	py := gotest.Mock(t)
	py.AppendHandlers( // verdict:mock-unmet
		mockpy.Respond([]string{"phone"}),
		mockpy.Respond([]string{"battery"}),
	)
	if _, err := verdicts.NewTagger(py).Keywords(t.Context(), "great phone"); err != nil {
		t.Fatal(err)
	}
}

func TestUnhandledCall(t *testing.T) {
	py := gotest.Mock(t)
	_, _ = verdicts.NewTagger(py).Keywords(t.Context(), "great phone") // verdict:unhandled
}

func TestPythonError(t *testing.T) {
	w := gotest.Fresh(t)
	if _, err := verdicts.NewTagger(w).Keywords(t.Context(), "boom"); err != nil {
		t.Fatal(err) // verdict:python-error
	}
}

func TestLeakedWorker(t *testing.T) {
	gotest.NoLeaks(t)
	gotest.Integration(t)
	w, err := realpy.Start(t.Context(), realpy.WithPythonPath(pythonDir()), realpy.WithModules("verdicts_handlers")) // verdict:leaked-worker
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verdicts.NewTagger(w).Keywords(context.Background(), "great phone"); err != nil {
		t.Fatal(err)
	}
}

func TestLeakedGoroutine(t *testing.T) {
	gotest.NoLeaks(t)
	stop := make(chan struct{})
	go waitForever(stop) // verdict:leaked-goroutine
}

// waitForever is the leaked goroutine: nobody closes stop.
func waitForever(stop chan struct{}) {
	<-stop
}
