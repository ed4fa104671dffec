// Options and errors of fork safety and of the workers' thread limits.

package realpy

import (
	"fmt"
	"strings"
)

// ForkSafety says what a zygote's forks do when forking is not safe: the
// zygote has a thread that a forked child would miss (a thread pool of
// GNU OpenMP, Intel OpenMP, CUDA, gRPC, a Python thread), so the child would
// hang on its first call that needs it. The zygote checks before each fork;
// threads of libraries that survive fork (OpenBLAS) do not count.
type ForkSafety string

const (
	// ForkFallback (the default) spawns a fresh interpreter in place of each
	// fork, from the zygote, and says so once: one warning line (the
	// WithOutput writer, else stderr) and, for a pool, an EventForkUnsafe.
	ForkFallback ForkSafety = "fallback"
	// ForkStrict refuses: a fork fails with a *ForkUnsafeError.
	ForkStrict ForkSafety = "strict"
	// ForkUnchecked forks whatever the check says, for threads known to be
	// harmless here.
	ForkUnchecked ForkSafety = "unchecked"
)

// WithForkSafety sets what forks do when forking is not safe (default
// ForkFallback). A shared pool's processes each apply it to their own forks.
func WithForkSafety(s ForkSafety) Option {
	return option("WithForkSafety", targetZygote|targetAttach|pools, func(c *config) {
		switch s {
		case ForkFallback, ForkStrict, ForkUnchecked:
			c.fork.safety = s
		default:
			c.refuse(&OptionError{Option: "WithForkSafety", Reason: fmt.Sprintf("given %q; it takes ForkFallback, ForkStrict or ForkUnchecked", string(s))})
		}
	})
}

// WithThreadLimits turns the workers' default thread limits on (the
// default) or off. With them on, every interpreter started (a spawned
// worker, a zygote before it imports anything, and so every worker it
// forks) gets OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, MKL_NUM_THREADS,
// VECLIB_MAXIMUM_THREADS and NUMEXPR_NUM_THREADS set to
// max(1, cores / workers on this machine), as joblib's loky does for its
// workers, so that the native thread pools of concurrent workers do not
// fight over the cores. A variable the user set (in the environment, or
// WithEnv) keeps the user's value. PoolStats.Threads says what was set.
// (Not yet for a zygote in a container: set the variables with WithEnv.)
func WithThreadLimits(on bool) Option {
	return option("WithThreadLimits", spawned|targetHost|targetContainer, func(c *config) { c.fork.threadsOff = !on })
}

// withMachineWorkers says how many workers run on this machine at once
// (every parallel test process's pool), for the thread limits of a zygote
// whose pools are elsewhere: a shared pool's host.
func withMachineWorkers(n int) Option {
	return option("WithMachineWorkers", spawned|targetHost|targetContainer, func(c *config) {
		if c.positive("WithMachineWorkers", n > 0, fmt.Sprint(n), "1 or more workers") {
			c.fork.machineWorkers = n
		}
	})
}

// ForkUnsafeError says a zygote cannot fork safely, and why: the native
// library whose threads a forked child would miss (or "threading" for a
// Python thread), and the Python module that loaded it.
type ForkUnsafeError struct {
	Zygote    string // the zygote's id
	Library   string // short name: "libgomp", "libiomp5", "libcuda", "threading", "unknown"
	Kind      string // what it is: "GNU OpenMP", "a Python thread", ...
	Path      string // the library's file, when one was found
	Module    string // the Python module that loaded the library (or whose thread it is); "" when none could be told
	StartedBy string // the preload or handler module whose import started the threads
	Threads   int    // threads besides the zygote's own
	Detail    string // the zygote's own words
}

func (e *ForkUnsafeError) Error() string {
	return fmt.Sprintf("realpy: zygote %s cannot fork safely: %s; a forked worker would hang on its first call that needs them. "+
		"Start the threads lazily (in a handler, not at import), limit them before the library loads (OMP_NUM_THREADS=1, threadpoolctl), "+
		"or use WithStrategy(Spawn); WithForkSafety(ForkFallback) spawns in place of forks (docs/scientific-python.md)", e.Zygote, e.Detail)
}

// cause is the error's cause in a few words, for a warning or a summary:
// "libgomp (loaded by sklearn.utils._openmp_helpers)".
func (e *ForkUnsafeError) cause() string {
	var b strings.Builder
	b.WriteString(e.Library)
	switch {
	case e.Module != "" && e.StartedBy != "" && e.StartedBy != e.Module:
		fmt.Fprintf(&b, " (loaded by %s, threads started while importing %s)", e.Module, e.StartedBy)
	case e.Module != "":
		fmt.Fprintf(&b, " (loaded by %s)", e.Module)
	case e.StartedBy != "":
		fmt.Fprintf(&b, " (threads started while importing %s)", e.StartedBy)
	}
	return b.String()
}
