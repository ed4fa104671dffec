// Package suitelife composes suite-level setups. Ginkgo allows a suite one
// SynchronizedBeforeSuite and one SynchronizedAfterSuite; pyharness's shared
// pools, its end-of-suite leak check and a suite's own setups (a binary
// built once, a fixture compiled once) each need a part of them. The first
// Add registers the single pair (and a ReportAfterSuite); every stage added
// runs in it: before the specs in the order added, after them in the
// reverse order, so that what a stage started is still there when the
// stages added after it end.
//
// Outer stages (end-of-suite checks) run before every other stage and end
// after every other one: a check's baseline is taken before any pool
// starts, and it runs once they have all closed.
package suitelife

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
)

// Stage is one participant's part of the suite's life. Every field may be
// nil. A stage whose setup failed or never ran (a failure in an earlier
// stage stops the setup) still has its teardown called: it must cope with
// what it did not start.
type Stage struct {
	// Key, when not empty, makes Add ignore a second stage with the same key.
	Key string
	// Outer stages come before every other stage (and end after them).
	Outer bool
	// Start runs on process 1 only, after the outer stages' First and
	// before every other stage's First (every stage's Start, in the order
	// of the stages): it starts work that takes long and
	// needs nothing of the other stages (a build) in the background, so
	// that the builds of several stages, and the other stages' setup, run
	// at once; the stage's First, or a spec, waits for it. It must return
	// at once, and what it started must end by the stage's teardown.
	Start func(ctx SpecContext)
	// First runs on process 1 only, before any process's All; what it
	// returns is handed to All on every process.
	First func(ctx SpecContext) []byte
	// All runs on every process, with what First returned.
	All func(ctx SpecContext, data []byte)
	// AfterAll runs on every process once its specs are done.
	AfterAll func(ctx SpecContext)
	// AfterFirst runs on process 1 once every process's AfterAll has run.
	AfterFirst func(ctx SpecContext)
	// Report runs after the suite, with its report (ReportAfterSuite).
	Report func(r Report)
}

var (
	mu     sync.Mutex
	stages []*Stage // outer stages first, each group in the order added
	keys   = map[string]bool{}
	done   bool // the suite-level nodes are registered
)

// Timeout bounds each of the suite-level nodes (all stages' setups
// together, all teardowns together): builds and interpreter start-ups of a
// loaded CI machine under -race.
const Timeout = 15 * time.Minute

// Add adds s to the suite's life. The first call registers the suite-level
// nodes, so it must be made at the top level of the suite (a package-level
// var, at tree construction), as Ginkgo requires of them; later calls may
// come from anywhere before the suite runs. It returns true, for
// `var _ = ...`.
func Add(s Stage) bool {
	mu.Lock()
	defer mu.Unlock()
	if s.Key != "" {
		if keys[s.Key] {
			return true
		}
		keys[s.Key] = true
	}
	if s.Outer {
		i := 0
		for i < len(stages) && stages[i].Outer {
			i++
		}
		stages = append(stages[:i], append([]*Stage{&s}, stages[i:]...)...)
	} else {
		stages = append(stages, &s)
	}
	if !done {
		done = true
		register()
	}
	return true
}

func snapshot() []*Stage {
	mu.Lock()
	defer mu.Unlock()
	return append([]*Stage(nil), stages...)
}

func register() {
	SynchronizedBeforeSuite(func(ctx SpecContext) []byte {
		all := snapshot()
		data := make([][]byte, len(all))
		started := false
		start := func() {
			started = true
			for _, s := range all {
				if s.Start != nil {
					s.Start(ctx)
				}
			}
		}
		for i, s := range all {
			if !s.Outer && !started {
				start()
			}
			if s.First != nil {
				data[i] = s.First(ctx)
			}
		}
		if !started {
			start()
		}
		raw, err := json.Marshal(data)
		if err != nil {
			Fail(fmt.Sprintf("suitelife: encoding the suite's setup data: %v", err))
		}
		return raw
	}, func(ctx SpecContext, raw []byte) {
		all := snapshot()
		var data [][]byte
		if err := json.Unmarshal(raw, &data); err != nil {
			Fail(fmt.Sprintf("suitelife: decoding the suite's setup data: %v", err))
		}
		if len(data) != len(all) {
			Fail(fmt.Sprintf("suitelife: process 1 set up %d suite stages, this process has %d", len(data), len(all)))
		}
		for i, s := range all {
			if s.All != nil {
				s.All(ctx, data[i])
			}
		}
	}, NodeTimeout(Timeout))

	SynchronizedAfterSuite(func(ctx SpecContext) {
		reverse(ctx, func(s *Stage) func(SpecContext) { return s.AfterAll })
	}, func(ctx SpecContext) {
		reverse(ctx, func(s *Stage) func(SpecContext) { return s.AfterFirst })
	}, NodeTimeout(Timeout))

	ReportAfterSuite("pyharness summary", func(r Report) {
		for _, s := range snapshot() {
			if s.Report != nil {
				s.Report(r)
			}
		}
	})
}

// reverse runs the teardown pick returns of every stage, last added first.
// Each runs even when one before it failed (a failure recorded by Ginkgo
// panics out of its function): the first failure is re-raised once all
// have run, so the node fails with it, and nothing is left unclosed.
func reverse(ctx SpecContext, pick func(*Stage) func(SpecContext)) {
	all := snapshot()
	var first any
	for i := len(all) - 1; i >= 0; i-- {
		f := pick(all[i])
		if f == nil {
			continue
		}
		func() {
			defer func() {
				if r := recover(); r != nil && first == nil {
					first = r
				}
			}()
			f(ctx)
		}()
	}
	if first != nil {
		panic(first)
	}
}

// kept are the pids of interpreters started for the whole suite (pool
// hosts), which end-of-suite checks on process 1 must not count as left
// running before their stage has closed them.
var (
	keptMu sync.Mutex
	kept   = map[int]bool{}
)

// Keep marks pid as a suite-level interpreter until Release.
func Keep(pid int) {
	keptMu.Lock()
	kept[pid] = true
	keptMu.Unlock()
}

// Release unmarks pid.
func Release(pid int) {
	keptMu.Lock()
	delete(kept, pid)
	keptMu.Unlock()
}

// Kept returns the pids Keep marked and Release did not unmark.
func Kept() []int {
	keptMu.Lock()
	defer keptMu.Unlock()
	pids := make([]int, 0, len(kept))
	for pid := range kept {
		pids = append(pids, pid)
	}
	return pids
}
