// Package isolation holds the checks that prove a spec cleaned up after
// itself: leftover processes started through pyharness, and (with goleak)
// leftover goroutines. The checks need no Ginkgo: they return values and
// errors a plain test or a Gomega assertion can inspect.
package isolation
