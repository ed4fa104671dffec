package fixture

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"testing"

	"github.com/pyharness/pyharness/gotest"
	"github.com/pyharness/pyharness/realpy"
)

// offenceEnv names the file where a leaking test writes what it started.
const offenceEnv = "FIXTURE_OFFENCE_OUT"

// here returns the file:line of the line before its caller's.
func here() string {
	_, file, line, _ := runtime.Caller(1)
	return fmt.Sprintf("%s:%d", file, line-1)
}

// record writes what a test started, and where, to $FIXTURE_OFFENCE_OUT.
func record(t *testing.T, kind, id string, pid int, site string) {
	t.Helper()
	raw, _ := json.Marshal(map[string]any{"kind": kind, "id": id, "pid": pid, "site": site})
	if err := os.WriteFile(os.Getenv(offenceEnv), raw, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestNoLeaksThenFresh is the first test to use the pool: the pool starts
// inside it, and is the binary's, not the test's.
func TestNoLeaksThenFresh(t *testing.T) {
	gotest.NoLeaks(t)
	w := gotest.Fresh(t)
	if err := w.Call(t.Context(), "ping", nil, nil); err != nil {
		t.Fatal(err)
	}
}

// TestNoLeaksThenPool is the same with the shared pool itself.
func TestNoLeaksThenPool(t *testing.T) {
	gotest.NoLeaks(t)
	if err := gotest.Pool(t).Call(t.Context(), "ping", nil, nil); err != nil {
		t.Fatal(err)
	}
}

// TestNoLeaksCatchesAWorker starts a worker and never closes it.
func TestNoLeaksCatchesAWorker(t *testing.T) {
	gotest.Integration(t)
	gotest.NoLeaks(t) // in TestNoLeaksCatchesAWorker
	w, err := realpy.Start(context.Background())
	site := here()
	if err != nil {
		t.Fatal(err)
	}
	record(t, "spawned worker", w.ID(), w.Pid(), site)
}

// TestNoLeaksCatchesAFork forks a worker from the binary's pool (started
// in this test) and never closes it: the fork is the test's leak, the
// pool is not.
func TestNoLeaksCatchesAFork(t *testing.T) {
	gotest.NoLeaks(t)
	w, err := gotest.Pool(t).Fresh(t.Context())
	site := here()
	if err != nil {
		t.Fatal(err)
	}
	record(t, "forked worker", w.ID(), w.HostPid(), site)
}

// TestLeakWorkerToTheEnd starts a worker and never closes it, with no
// per-test check: the end of the binary names it.
func TestLeakWorkerToTheEnd(t *testing.T) {
	gotest.Integration(t)
	w, err := realpy.Start(context.Background())
	site := here()
	if err != nil {
		t.Fatal(err)
	}
	record(t, "spawned worker", w.ID(), w.Pid(), site)
}
