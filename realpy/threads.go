// Thread limits: the native thread pools of every worker share the cores.

package realpy

import (
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

// threadVars are the variables the native libraries of scientific Python
// size their thread pools by: OpenMP (libgomp, libiomp5, libomp), OpenBLAS,
// MKL, Accelerate, numexpr.
var threadVars = []string{"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"}

// envThreadLimit tells a zygote what its starter set, so that a pool
// attached to it (another process's) can report it: "value/cores/workers/VAR,VAR".
const envThreadLimit = "PYHARNESS_THREAD_LIMIT"

// ThreadLimits says what thread limits a pool's workers run with.
type ThreadLimits struct {
	Value   int      // what pyharness set each of Set to; 0 when it set none
	Set     []string // the variables pyharness set (the user's own are left as they are)
	Cores   int      // the cores of this machine it shared
	Workers int      // between this many workers on this machine at once
}

// String reads "OMP_NUM_THREADS=1 and 4 more (2 cores / 8 workers)", or "none set".
func (t ThreadLimits) String() string {
	if len(t.Set) == 0 {
		return "none set"
	}
	s := t.Set[0] + "=" + strconv.Itoa(t.Value)
	if len(t.Set) > 1 {
		s += " and " + strconv.Itoa(len(t.Set)-1) + " more"
	}
	return s + " (" + strconv.Itoa(t.Cores) + " cores / " + strconv.Itoa(t.Workers) + " workers)"
}

// parallelProcesses is how many Ginkgo processes run this suite
// (--ginkgo.parallel.total, which `ginkgo -p` passes every test process), 1
// outside Ginkgo.
func parallelProcesses() int {
	args := os.Args[1:]
	for i, a := range args {
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if name != "ginkgo.parallel.total" {
			continue
		}
		if !hasValue && i+1 < len(args) {
			value = args[i+1]
		}
		if n, err := strconv.Atoi(value); err == nil && n > 0 {
			return n
		}
	}
	return 1
}

// threadLimits is what c's interpreters get: the cores shared between the
// workers of this process (a pool's size; 1 for a lone worker) times the
// parallel test processes, unless c knows how many run on the machine.
func (c *procConfig) threadLimits() ThreadLimits { return c.threadLimitsFor(true) }

// remoteThreadLimits is threadLimits for an interpreter this process's
// environment does not reach (a zygote in a container): only WithEnv counts
// as the user's own value.
func (c *procConfig) remoteThreadLimits() ThreadLimits { return c.threadLimitsFor(false) }

func (c *procConfig) threadLimitsFor(inherits bool) ThreadLimits {
	if c.fork.threadsOff {
		return ThreadLimits{}
	}
	total := c.fork.machineWorkers
	if total <= 0 {
		total = max(c.fork.workers, 1) * parallelProcesses()
	}
	t := ThreadLimits{Cores: runtime.NumCPU(), Workers: total}
	t.Value = max(1, t.Cores/t.Workers)
	for _, v := range threadVars {
		if !userSet(c.env, v, inherits) {
			t.Set = append(t.Set, v)
		}
	}
	if len(t.Set) == 0 {
		t.Value = 0
	}
	return t
}

// userSet reports whether the user set v: with WithEnv, or in this
// process's environment when the interpreter inherits it.
func userSet(env []string, v string, inherits bool) bool {
	if _, ok := os.LookupEnv(v); ok && inherits {
		return true
	}
	return slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, v+"=") })
}

// env returns the entries that set the limits, and the marker a zygote reports them by.
func (t ThreadLimits) env() []string {
	if len(t.Set) == 0 {
		return nil
	}
	value := strconv.Itoa(t.Value)
	out := make([]string, 0, len(t.Set)+1)
	for _, v := range t.Set {
		out = append(out, v+"="+value)
	}
	return append(out, envThreadLimit+"="+value+"/"+strconv.Itoa(t.Cores)+"/"+strconv.Itoa(t.Workers)+"/"+strings.Join(t.Set, ","))
}

// parseThreadLimit reads the marker of env (what a zygote's starter set).
func parseThreadLimit(marker string) ThreadLimits {
	parts := strings.SplitN(marker, "/", 4)
	if len(parts) != 4 {
		return ThreadLimits{}
	}
	value, _ := strconv.Atoi(parts[0])
	cores, _ := strconv.Atoi(parts[1])
	workers, _ := strconv.Atoi(parts[2])
	return ThreadLimits{Value: value, Cores: cores, Workers: workers, Set: strings.Split(parts[3], ",")}
}
