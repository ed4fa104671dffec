package leak_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/pyharness/pyharness/isolation/leak"
)

// stateCaller answers `state` with the next of its canned replies.
type stateCaller struct{ replies []string }

func (c *stateCaller) Call(_ context.Context, method string, _, reply any) error {
	if method != "state" {
		panic("unexpected method " + method)
	}
	next := c.replies[0]
	c.replies = c.replies[1:]
	return json.Unmarshal([]byte(next), reply)
}

func pythonDiff(t *testing.T, before, after string, opts ...leak.SnapshotOption) *leak.Diff {
	t.Helper()
	w := &stateCaller{replies: []string{before, after}}
	opts = append([]leak.SnapshotOption{leak.WithPython(w)}, opts...)
	b, err := leak.Take(context.Background(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	a, err := leak.Take(context.Background(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	d := b.Diff(a)
	// Only the Python part is the point (other processes write to /tmp meanwhile).
	d.Goroutines, d.Processes, d.FDs, d.TempFiles, d.Env = nil, nil, nil, nil, nil
	return d
}

func TestModulesAreWhatHandlersImported(t *testing.T) {
	d := pythonDiff(t,
		`{"modules": ["sys"], "imported": ["json"], "pid": 7, "worker_id": "w1"}`,
		`{"modules": ["sys", "ast", "_ast", "json", "colorsys"], "imported": ["colorsys", "json"], "pid": 7, "worker_id": "w1"}`)
	if strings.Join(d.Modules, ",") != "+ colorsys" {
		t.Fatalf("want only colorsys (ast came from the worker, json before the first snapshot), got %q", d.Modules)
	}
	want := "Python modules imported by the handlers of worker w1 (pid 7):\n  + colorsys\n" +
		`  (a module imported on purpose: IgnoreModules("colorsys") leaves it out)`
	if d.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", d.String(), want)
	}
}

func TestAWorkerThatDoesNotSayWhatHandlersImportedIsComparedOnAllModules(t *testing.T) {
	d := pythonDiff(t, `{"modules": ["sys"]}`, `{"modules": ["sys", "colorsys"]}`)
	if strings.Join(d.Modules, ",") != "+ colorsys" || d.Worker != "the worker" {
		t.Fatalf("got %q from %q", d.Modules, d.Worker)
	}
}

func TestIgnoreModulesLeavesOutExactlyTheNamedOnes(t *testing.T) {
	d := pythonDiff(t,
		`{"modules": [], "imported": [], "pid": 7, "worker_id": "w1"}`,
		`{"modules": [], "imported": ["colorsys", "graphlib", "numpy", "numpy.linalg", "numpyx", "wave"], "pid": 7, "worker_id": "w1"}`,
		leak.IgnoreModules("colorsys", "numpy", "numpy.*"))
	if got := strings.Join(d.Modules, ","); got != "+ graphlib,+ numpyx,+ wave" {
		t.Fatalf("got %q", got)
	}
}

func TestStatesOfTwoWorkersAreNotCompared(t *testing.T) {
	d := pythonDiff(t,
		`{"modules": [], "imported": [], "globals": {"m": {"x": "int:1"}}, "pid": 7, "worker_id": "w1"}`,
		`{"modules": [], "imported": ["colorsys"], "globals": {"m": {"x": "int:2"}}, "pid": 8, "worker_id": "w2"}`)
	if d.Empty() || len(d.Modules)+len(d.Globals) != 0 {
		t.Fatalf("want a finding and no module or global lines, got %#v", d)
	}
	if !strings.Contains(d.String(), "the state before came from worker w1 (pid 7), the state after from worker w2 (pid 8)") {
		t.Fatalf("got %s", d.String())
	}
}

func TestGlobalsNameTheWorker(t *testing.T) {
	d := pythonDiff(t,
		`{"modules": [], "imported": [], "globals": {"cart": {"CART": "list:[]"}}, "pid": 7, "worker_id": "w1"}`,
		`{"modules": [], "imported": [], "globals": {"cart": {"CART": "list:['pear']"}}, "pid": 7, "worker_id": "w1"}`)
	want := "Python globals changed in worker w1 (pid 7):\n  ~ cart.CART: list:[] -> list:['pear']"
	if d.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", d.String(), want)
	}
}
