package unit

import (
	"errors"
	"runtime"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/internal/ownership"
	"github.com/pyharness/pyharness/isolation/leak"
)

var _ = describe("ownership: calls in flight", func() {
	It("records nothing until a check takes its baseline, and every call after it", func() {
		DeferCleanup(ownership.DisarmForTest())
		before := ownership.BeginCall("w-unarmed", 4243, "predict")
		DeferCleanup(before.End)
		base := ownership.CallSeq()
		Expect(ownership.InFlight()).NotTo(ContainElement(HaveField("Worker", "w-unarmed")), "a program that checks nothing pays for no record")
		after := ownership.BeginCall("w-armed", 4244, "predict")
		calls := ownership.InFlightSince(base)
		Expect(calls).To(HaveLen(1))
		Expect(calls[0].Worker).To(Equal("w-armed"))
		after.End()
		Expect(ownership.InFlightSince(base)).To(BeEmpty())
	})

	It("records a call with the line that made it until it ends, once", func() {
		base := ownership.CallSeq()
		end := ownership.BeginCall("w-inflight", 4242, "predict").End
		_, _, line, _ := runtime.Caller(0)
		calls := ownership.InFlightSince(base)
		Expect(calls).To(HaveLen(1))
		Expect(calls[0].Worker).To(Equal("w-inflight"))
		Expect(calls[0].Pid).To(Equal(4242))
		Expect(calls[0].Method).To(Equal("predict"))
		Expect(calls[0].Site).To(HaveSuffix("inflight.go:%d", line-1))
		Expect(calls[0].Func).To(ContainSubstring("unit."))
		Expect(ownership.InFlight()).To(ContainElement(calls[0]))
		end()
		end() // idempotent
		Expect(ownership.InFlightSince(base)).To(BeEmpty())
	})

	It("waits for calls to end, and returns those left, in the order they began, on the worker asked", func() {
		base := ownership.CallSeq()
		endA := ownership.BeginCall("w-a", 1, "first").End
		endB := ownership.BeginCall("w-b", 2, "second").End
		defer endA()
		go func() { endB() }()
		Expect(ownership.WaitCallsOn(base, time.Minute, "w-b", 0)).To(BeEmpty(), "w-b's call ended while it waited")
		left := ownership.WaitCalls(base, 10*time.Millisecond)
		Expect(left).To(HaveLen(1))
		Expect(left[0].Method).To(Equal("first"))
		endC := ownership.BeginCall("w-a", 1, "third").End
		defer endC()
		left = ownership.WaitCallsOn(base, 10*time.Millisecond, "", 1)
		Expect([]string{left[0].Method, left[1].Method}).To(Equal([]string{"first", "third"}))
	})
})

var _ = describe("leak: calls in flight in a snapshot's diff and a check", func() {
	It("names a call made after the first snapshot and still in flight, in the diff", func(ctx SpecContext) {
		before, err := leak.Take(ctx)
		Expect(err).NotTo(HaveOccurred())
		end := ownership.BeginCall("w-diff", 77, "predict").End
		_, _, line, _ := runtime.Caller(0)
		defer end()
		after, err := leak.Take(ctx)
		Expect(err).NotTo(HaveOccurred())
		diff := before.Diff(after)
		Expect(diff.Calls).To(HaveLen(1))
		Expect(diff.String()).To(MatchRegexp(`calls still in flight:\n  \+ call "predict" still in flight on worker w-diff \(pid 77\), made at \S+inflight.go:%d by unit\.\S+: the test ended before its answer came`, line-1))
	})

	It("reports a call in flight at a check as a call, not a process", func() {
		b, err := leak.Begin()
		Expect(err).NotTo(HaveOccurred())
		end := ownership.BeginCall("w-check", 78, "explain").End
		defer end()
		err = b.Check("left")
		var r *leak.Report
		Expect(errors.As(err, &r)).To(BeTrue())
		Expect(r.Calls()).To(HaveLen(1))
		Expect(r.Processes()).To(BeEmpty())
		Expect(r.Calls()[0].Method).To(Equal("explain"))
		Expect(r.Error()).To(HavePrefix("left:\n  call \"explain\" still in flight on worker w-check (pid 78), made at "))
	})
})
