// Package harness is the face a Ginkgo suite imports: the labels that select
// what runs, and (as the project grows) the Interpreter contract, the
// suite-level shared pool and reporting.
//
// Selection: specs labelled integration need a real Python. They are skipped,
// with a message saying how to run them, unless the label filter selects them
// or PYHARNESS_INTEGRATION=1:
//
//	var _ = harness.SkipUnselectedIntegration()
//
//	var _ = Describe("predict", harness.Integration, func() { ... })
//
// so `ginkgo -r` is the fast mocked run and `ginkgo -r --label-filter=integration`
// the real one.
package harness
