package realpy

import "github.com/pyharness/pyharness/internal/realpyx"

// The functions pyharness's own packages need of this one and a user does
// not: they reach them through internal/realpyx.
func init() {
	realpyx.Hooks.SplitShared = splitShared
	realpyx.Hooks.Hosts = hosts
	realpyx.Hooks.StopHosts = stopHosts
	realpyx.Hooks.StrategyOf = strategyOf
	realpyx.Hooks.ReuseOf = reuseOf
	realpyx.Hooks.SizeOf = sizeOf
	realpyx.Hooks.CheckOptions = checkOptions
	realpyx.Hooks.NewZygoteCommand = newZygoteCommand
	realpyx.Hooks.AttachZygote = attachZygoteWith
	realpyx.Hooks.WithWorkerID = withWorkerID
	realpyx.Hooks.WithRunID = withRunID
	realpyx.Hooks.WithWorkerSource = withWorkerSource
	realpyx.Hooks.WithMachineWorkers = withMachineWorkers
	realpyx.Hooks.WatchPool = watchPool
	realpyx.Hooks.AppliesTo = Option.appliesTo
	realpyx.Hooks.FindPython = resolvePython
	realpyx.Hooks.WithZygoteAddr = withZygoteAddr
	realpyx.Hooks.WithClock = withClock
}
