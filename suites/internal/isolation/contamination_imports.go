package isolation

import (
	"errors"
	"fmt"
	"os"
	"regexp"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/pyharness/pyharness"
	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/isolation"
	"github.com/pyharness/pyharness/realpy"
	"github.com/pyharness/pyharness/wire"
)

// freshWorker starts a worker of its own for each spec of the container
// (before the contamination snapshot: register it first), closed after;
// the function returned gives the spec's worker.
func freshWorker() func() pyharness.Caller {
	var w *realpy.Worker
	BeforeEach(func(ctx SpecContext) {
		var err error
		w, err = realpy.Start(ctx, realpy.WithPythonPath(testdata()), realpy.WithModules("importing"))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(w.Close)
		if nested != "" { // the outer run reads which worker the report must name
			fmt.Fprintf(os.Stdout, "offender's worker: %s (pid %d)\n", w.ID(), w.Pid())
		}
	})
	return func() pyharness.Caller { return w }
}

var _ = describe("contamination detection counts the modules handlers import", harness.Integration, func() {
	if nested != "" {
		return
	}
	Context("on a fresh worker", func() {
		w := freshWorker()
		isolation.ContaminationDetection(w)

		It("passes a spec whose handler raised once (formatting the traceback imports modules: the worker's)", func(ctx SpecContext) {
			err := w().Call(ctx, "boom", "once", nil)
			var pyErr *wire.PythonError
			Expect(errors.As(err, &pyErr)).To(BeTrue(), "a Python exception: %v", err)
			Expect(pyErr.Type).To(Equal("ValueError"))
		})

		It("passes a spec whose async handler ran (the event loop is the worker's)", func(ctx SpecContext) {
			var got []string
			Expect(w().Call(ctx, "load_async", []string{}, &got)).To(Succeed())
			Expect(got).To(BeEmpty())
		})
	})

	Context("with IgnoreModules", func() {
		w := freshWorker()
		isolation.ContaminationDetection(w, isolation.IgnoreModules("colorsys"))

		It("passes a spec that imports only the modules it named", func(ctx SpecContext) {
			Expect(w().Call(ctx, "load", []string{"colorsys"}, nil)).To(Succeed())
		})
	})
})

var _ = func() bool {
	switch nested {
	case "contamination-import":
		describe("offender", func() {
			w := freshWorker()
			isolation.ContaminationDetection(w)
			It("imports colorsys in a handler", func(ctx SpecContext) {
				Expect(w().Call(ctx, "load", []string{"colorsys"}, nil)).To(Succeed())
			})
		})
	case "contamination-import-ignored":
		describe("offender", func() {
			w := freshWorker()
			isolation.ContaminationDetection(w, isolation.IgnoreModules("colorsys"))
			It("imports colorsys, which it named, and graphlib, which it did not", func(ctx SpecContext) {
				Expect(w().Call(ctx, "load", []string{"colorsys", "graphlib"}, nil)).To(Succeed())
			})
		})
	}
	return true
}()

var _ = describe("contamination detection reports a module a handler imported (nested runs)", harness.Integration, func() {
	if nested != "" {
		return
	}
	offendersWorker := func(out []byte) string {
		GinkgoHelper()
		m := regexp.MustCompile(`offender's worker: (\S+ \(pid \d+\))`).FindSubmatch(out)
		Expect(m).NotTo(BeNil(), "the offending spec prints its worker")
		return string(m[1])
	}

	It("names the module, the spec and its line, and the worker", func() {
		session := runNested("contamination-import", "PYHARNESS_INTEGRATION=1")
		Expect(session).To(gexec.Exit(1), "the offending spec must fail")
		out := session.Out.Contents()
		worker := offendersWorker(out)
		Expect(string(out)).To(MatchRegexp(
			`contamination detected after spec "offender imports colorsys in a handler" \(\S+/suites/internal/isolation/contamination_imports\.go:\d+\):\s+`+
				`Python modules imported by the handlers of worker %s:\s+`+
				`\+ colorsys\s+`+
				`\(a module imported on purpose: IgnoreModules\("colorsys"\) leaves it out\)`, regexp.QuoteMeta(worker)))
	})

	It("leaves out exactly the modules IgnoreModules names", func() {
		session := runNested("contamination-import-ignored", "PYHARNESS_INTEGRATION=1")
		Expect(session).To(gexec.Exit(1), "the offending spec must fail")
		out := session.Out.Contents()
		worker := offendersWorker(out)
		Expect(string(out)).To(MatchRegexp(
			`Python modules imported by the handlers of worker %s:\s+\+ graphlib\s+\(a module`, regexp.QuoteMeta(worker)))
		Expect(string(out)).NotTo(ContainSubstring("+ colorsys"))
	})
})
