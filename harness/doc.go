// Package harness is the face a Ginkgo suite imports.
//
// The call contract lives in the module's root package (pyharness.Caller),
// which production code imports without linking this one: unit specs hand
// it a mockpy.Interpreter, integration specs a realpy pool, and the specs of
// package harness/contract hold every implementation to the same behaviour.
//
// Selection by label: specs that need real Python carry Integration. They
// are skipped, with a message saying how to run them, unless the label filter
// selects them or PYHARNESS_INTEGRATION=1:
//
//	var _ = harness.SkipUnselectedIntegration()
//
//	var _ = Describe("predict", harness.Integration, func() { ... })
//
// so `ginkgo -r` is the fast mocked run and `ginkgo -r --label-filter=integration`
// the real one. PythonMock, PythonReal and PythonContainer label where a spec
// runs, for filters such as --label-filter="python: containsAny real".
//
// One warm pool per suite: NewSharedPool starts one pool host (a zygote, in
// a local process or, with PYHARNESS_BACKEND=container and package
// harness/containerbackend imported, in a testcontainer) on Ginkgo process 1, every parallel process forks its own workers from it,
// and after the suite it checks that no goroutine and no interpreter is left
// and prints a summary: interpreters started, containers, warm-up time and
// its share of the suite's wall time.
//
// Isolation modes and leak checks live in packages isolation and
// isolation/leak.
package harness
