// Package leak holds the checks that prove code cleaned up after itself:
// goroutines (goleak, with Ginkgo's own goroutines ignored), processes
// started through pyharness (children, and anything carrying our owner
// pid), open file descriptors, files left in temp dirs, environment
// variables, and a Python worker's state. They need no Ginkgo: each returns
// values or an error that a plain test or a Gomega assertion inspects.
//
// Snapshot and Diff put them together:
//
//	before, _ := leak.Take(ctx, leak.WithPython(worker))
//	... run the code under test ...
//	after, _ := leak.Take(ctx, leak.WithPython(worker))
//	if diff := before.Diff(after); !diff.Empty() { t.Fatal(diff) }
package leak
