package isolation

import (
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/realpy"
)

// FullIsolationMode gives each spec a brand-new private worker.
//
// Sets up: pool.Fresh (a fork from the zygote, or a spawn). Tears down:
// closes it; on failure, attaches its stderr tail to the report. Checks: the
// process is gone.
type FullIsolationMode struct {
	pool   func() *realpy.Pool
	worker *realpy.Worker
}

// FullIsolation registers the full-isolation mode.
func FullIsolation(pool func() *realpy.Pool) *FullIsolationMode {
	m := &FullIsolationMode{pool: pool}
	BeforeEach(func(ctx SpecContext) {
		w, err := m.pool().Fresh(ctx)
		Expect(err).NotTo(HaveOccurred())
		m.worker = w
		DeferCleanup(func() {
			Expect(w.Close()).To(Succeed())
			Expect(w.Exited()).To(BeClosed(), "full isolation: the spec's worker outlived it")
		})
		ReportWorkerOnFailure(w)
	}, NodeTimeout(time.Minute))
	return m
}

// Worker returns the running spec's private worker.
func (m *FullIsolationMode) Worker() *realpy.Worker { return m.worker }

// ReportWorkerOnFailure attaches w's stderr tail to the spec's report when
// the spec fails. Call it after the DeferCleanup that closes w, so it runs first.
func ReportWorkerOnFailure(w *realpy.Worker) {
	DeferCleanup(func() {
		if !CurrentSpecReport().Failed() {
			return
		}
		tail := strings.TrimSpace(string(w.Stderr().Contents()))
		if len(tail) > 4000 {
			tail = "..." + tail[len(tail)-4000:]
		}
		if tail != "" {
			AddReportEntry(fmt.Sprintf("stderr of worker %s (pid %d)", w.ID(), w.Pid()), tail, ReportEntryVisibilityFailureOrVerbose)
		}
	})
}
