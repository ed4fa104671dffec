// Package forksafe is a suite that the pool suite runs under `ginkgo -p`:
// a shared pool whose host imports a module that runs an OpenMP fit at
// import, so the host cannot fork safely; every process's pool spawns
// through it instead, with one warning line.
package forksafe

import (
	"path/filepath"
	"strings"
	"sync"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/realpy"
)

func TestForkSafe(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Fork Safety Suite")
}

var _ = harness.SkipUnselectedIntegration()

// output keeps what this process's pool writes (its warning).
type output struct {
	mu sync.Mutex
	b  strings.Builder
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	GinkgoWriter.Write(p)
	return o.b.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

var out = &output{}

func testdata() string {
	dir, err := filepath.Abs("..")
	if err != nil {
		panic(err)
	}
	return dir
}

// Two workers per process: with `ginkgo -p --procs 2`, four on the machine
// (each imports scikit-learn and fits a model: about a second of CPU).
var python = harness.NewSharedPool(
	realpy.WithSize(2),
	realpy.WithPython("/usr/bin/python3"),
	realpy.WithPythonPath(testdata()),
	realpy.WithModules("omp_warmup"),
	realpy.WithEnv("OMP_NUM_THREADS=2"), // the user's: a team of two threads at import
	realpy.WithOutput(out),
)

var rows = map[string]any{"rows": [][]float64{{0.9, 0.9, 0, 0}, {0.1, 0.1, 0, 0}}}

var _ = Describe("a host that cannot fork", harness.Integration, func() {
	for i := range 2 {
		It("answers correctly on each of this process's workers, "+string(rune('a'+i)), func(ctx SpecContext) {
			w := python.Pool().Workers()[i]
			var got []int
			Expect(w.Call(ctx, "predict", rows, &got)).To(Succeed())
			Expect(got).To(Equal([]int{1, 0}))
		})
	}

	It("says why once, naming libgomp, and spawned every worker", func() {
		stats := python.Pool().Stats()
		Expect(stats.Forked).To(BeZero())
		Expect(stats.ForkFallbacks).To(BeEquivalentTo(2))
		Expect(stats.ForkUnsafe).To(HavePrefix("libgomp (loaded by sklearn."))
		Expect(strings.Count(out.String(), "cannot fork safely")).To(Equal(1), out.String())
		Expect(out.String()).To(ContainSubstring("libgomp (GNU OpenMP"))
	})
})
