package isolation

import (
	"context"
	"regexp"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/internal/ownership"
	"github.com/pyharness/pyharness/isolation"
	"github.com/pyharness/pyharness/mockpy"
	"github.com/pyharness/pyharness/realpy"
	"github.com/pyharness/pyharness/suites/internal/suite"
)

// Offending specs that return with a call in flight (issue 26), registered
// only in a nested run.
var _ = func() bool {
	// leaveCall makes a call of predict on py from a goroutine of the spec's
	// own, which gets no answer before the spec's checks have run (see
	// released), and records where.
	leaveCall := func(py *mockpy.Interpreter) {
		started := make(chan struct{})
		py.RouteToHandler("predict", func(ctx context.Context, _ mockpy.Call) (any, error) {
			close(started)
			<-released
			return nil, nil
		})
		go func() { _ = py.Call(context.Background(), "predict", nil, nil) }()
		site := here(-1)
		<-started
		record(offence{Kind: "call", ID: "offender-mock", Pid: py.Pid(), Site: site})
	}
	switch nested {
	case "leak-call":
		describe("offender", func() {
			releaseAfterTheChecks()
			isolation.VerifyNoLeaksPerSpec()
			It("returns while a call of its own is in flight", func() {
				leaveCall(mockpy.New(mockpy.WithWorkerID("offender-mock")))
			})
		})
	case "leak-call-real":
		describe("offender", harness.Integration, func() {
			isolation.VerifyNoLeaksPerSpec()
			It("returns while a call of its own is in flight on a worker it did not close", func(ctx SpecContext) {
				w, err := realpy.Start(ctx, workerOpts()...)
				Expect(err).NotTo(HaveOccurred())
				base := ownership.CallSeq()
				go func() { _ = w.Call(context.Background(), "hang", nil, nil) }()
				site := here(-1)
				Eventually(func() []ownership.Call { return ownership.InFlightSince(base) }).Should(HaveLen(1))
				record(offence{Kind: "call", ID: w.ID(), Pid: w.Pid(), Site: site})
			})
		})
	case "leak-call-basic":
		describe("offender", func() {
			releaseAfterTheChecks()
			mode := isolation.Basic(mockpy.WithWorkerID("offender-mock"))
			It("returns while a call on its Basic mock is in flight", func() {
				leaveCall(mode.Mock())
			})
		})
	}
	return true
}()

var _ = describe("Leak checks that know about calls in flight", Ordered, ContinueOnFailure, func() {
	if nested != "" {
		return
	}
	a := suite.NewAhead() // the unit offenders run side by side, before the first spec
	leakCall := aheadOffender(a, "leak-call")
	leakCallBasic := aheadOffender(a, "leak-call-basic")
	It("VerifyNoLeaksPerSpec names a call the spec left in flight: method, worker and the spec's line that made it", func() {
		s, o := leakCall()
		Expect(s).To(gexec.Exit(1))
		Expect(flat(s)).To(MatchRegexp(`pyharness: the spec left running:\ncall "predict" still in flight on worker offender-mock \(pid %d\), made at %s by \S*isolation\.[^\n]+: the test ended before its answer came \(wait for the call, or end its context, before the test returns\)`,
			o.Pid, regexp.QuoteMeta(o.Site)))
	})

	It("VerifyNoLeaksPerSpec names a call left in flight on a real worker, and the worker, which it kills", harness.Integration, func() {
		s, o := runOffender("leak-call-real", "PYHARNESS_INTEGRATION=1")
		Expect(s).To(gexec.Exit(1))
		Expect(flat(s)).To(MatchRegexp(`pyharness: the spec left running:\nspawned worker %s \(pid %d\), started at [^\n]+; killed by the leak check[^\n]*\ncall "hang" still in flight on worker %s \(pid %d\), made at %s by \S*isolation\.`,
			regexp.QuoteMeta(o.ID), o.Pid, regexp.QuoteMeta(o.ID), o.Pid, regexp.QuoteMeta(o.Site)))
	})

	It("Basic names a call left in flight on its mock", func() {
		s, o := leakCallBasic()
		Expect(s).To(gexec.Exit(1))
		Expect(flat(s)).To(MatchRegexp(`basic isolation: the spec ended with 1 call\(s\) still in flight on its mock:\ncall "predict" still in flight on worker offender-mock \(pid %d\), made at %s by `,
			o.Pid, regexp.QuoteMeta(o.Site)))
	})
})
