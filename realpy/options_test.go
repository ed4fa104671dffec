package realpy

import (
	"context"
	"errors"
	"net"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// refusal asserts err is an *OptionError naming option, and returns it.
func refusal(err error, option string) *OptionError {
	GinkgoHelper()
	var oe *OptionError
	Expect(errors.As(err, &oe)).To(BeTrue(), "an *OptionError, got %v", err)
	Expect(oe.Option).To(Equal(option))
	Expect(err.Error()).To(ContainSubstring(option))
	return oe
}

var _ = Describe("Options given where they do not apply", func() {
	// Every refusal happens before anything starts: no Python is needed.
	ctx := context.Background()

	It("refuses pool options on a single worker, saying where they belong", func() {
		w, err := Start(ctx, WithModules("m"), WithSize(8))
		Expect(w).To(BeNil())
		oe := refusal(err, "WithSize")
		Expect(oe.Given).To(Equal(targetWorker.String()))
		Expect(err.Error()).To(ContainSubstring("does not apply to Start; it applies to StartPool"))

		_, err = Start(ctx, WithHeartbeat(time.Second, 2))
		refusal(err, "WithHeartbeat")
		_, err = Start(ctx, WithPreload("numpy"))
		Expect(refusal(err, "WithPreload").Where).To(Equal((targetZygote | targetPool | targetHost | targetContainer).String()))
	})

	It("refuses everything but WithMaxFrame on a bare client", func() {
		a, b := net.Pipe()
		defer b.Close()
		_, err := NewClient(ctx, a, WithMaxFrame(1024), WithModules("m"))
		refusal(err, "WithModules")
		a.Close()
	})

	It("refuses WithPreload on a pool that spawns, saying what was given and what it takes, without contradicting itself", func() {
		p, err := StartPool(ctx, WithPreload("numpy"))
		Expect(p).To(BeNil())
		refusal(err, "WithPreload")
		Expect(err).To(MatchError(`realpy: option WithPreload on StartPool: given WithPreload("numpy") with the default strategy, Spawn; ` +
			`a pool imports preloads once, in its zygote, so it takes WithPreload only with WithStrategy(ZygoteFork) (or import the modules from a handler module)`))
		Expect(err.Error()).NotTo(ContainSubstring("does not apply to StartPool"))
		Expect(p.Close()).To(Succeed(), "a nil pool closes as nothing")

		_, err = StartPool(ctx, WithStrategy(Spawn), WithPreload("numpy", "torch"))
		Expect(err).To(MatchError(ContainSubstring(`given WithPreload("numpy", "torch") with the strategy "spawn";`)))
	})

	It("never says an option does not apply where it applies, for any refusal", func() {
		_, _, errZygoteAddr := splitShared(targetHost, withZygoteAddr("unix:/x.sock"))
		for _, err := range []error{
			func() error { _, err := StartPool(ctx, WithPreload("numpy")); return err }(),
			errZygoteAddr,
			checkOptions(targetPool, Option{}),
		} {
			Expect(err).To(HaveOccurred())
			var oe *OptionError
			Expect(errors.As(err, &oe)).To(BeTrue())
			if strings.Contains(err.Error(), "does not apply to") {
				Expect(oe.given&oe.where).To(BeZero(), "says %s does not apply to %s, where it applies: %v", oe.Option, oe.Given, err)
			}
			Expect(err.Error()).NotTo(ContainSubstring("applies to nothing"))
		}
		Expect(errZygoteAddr).To(MatchError("realpy: option WithZygoteAddr on StartHost: a shared pool starts its own host and attaches its pools to it; " +
			"WithZygoteAddr is taken by a StartPool of your own"))
		Expect(checkOptions(targetPool, Option{})).To(MatchError("realpy: option Option{} on StartPool: given the zero Option; " +
			"it takes the options that the With functions of package realpy return"))
	})

	It("refuses values an option cannot take, saying what was given and what it takes", func() {
		for _, c := range []struct {
			opt  Option
			text string
		}{
			{WithMaxFrame(100), "realpy: option WithMaxFrame: given 100 bytes; it takes 1024..4294967295 bytes (wire.MinMaxFrame..wire.MaxFrameLimit)"},
			{WithOutputLimit(-1), "realpy: option WithOutputLimit: given -1 bytes; it takes a positive number of bytes"},
			{WithCancelGrace(0), "realpy: option WithCancelGrace: given 0s; it takes a positive duration"},
			{WithStreamWindow(0), "realpy: option WithStreamWindow: given 0; it takes a positive number of items"},
			{WithCallback("", nil), `realpy: option WithCallback: given the name "" and a nil function; it takes a non-empty name and a non-nil function`},
		} {
			_, err := Start(ctx, c.opt)
			Expect(err).To(MatchError(c.text), c.opt.String())
		}
		_, err := StartHost(ctx, WithHostIdle(-time.Second))
		Expect(err).To(MatchError("realpy: option WithHostIdle: given -1s; it takes a positive duration"))
		for _, opt := range []Option{WithSize(0), WithSessionTTL(0)} {
			_, err := StartPool(ctx, opt)
			refusal(err, opt.String())
		}
		_, err = StartPool(ctx, WithSize(0))
		Expect(err).To(MatchError("realpy: option WithSize: given 0; it takes 1 or more workers"), "not the default size, silently")
	})

	It("refuses interpreter options on a pool attached to another process's zygote", func() {
		_, err := StartPool(ctx, withZygoteAddr("/nonexistent.sock"), WithSize(2), WithModules("m"))
		Expect(refusal(err, "WithModules").Given).To(Equal(targetAttachedPool.String()))
		_, err = StartPool(ctx, withZygoteAddr("/nonexistent.sock"), WithStrategy(Spawn))
		refusal(err, "WithStrategy")
	})

	It("refuses a pool's worker ids, and options no container can honour", func() {
		_, err := StartPool(ctx, withWorkerID("w1"))
		refusal(err, "WithWorkerID")
		_, err = newZygoteCommand(targetContainer, WithModules("m"), WithDir("/tmp"))
		refusal(err, "WithDir")
		_, err = attachZygoteWith(ctx, "/nonexistent.sock", WithPythonPath("x"))
		refusal(err, "WithPythonPath")
		Expect(checkOptions(targetPool, Option{})).To(MatchError(ContainSubstring("given the zero Option")))
	})

	It("refuses a frame limit outside the protocol's range, rather than keeping the default", func() {
		_, err := Start(ctx, WithMaxFrame(100))
		oe := refusal(err, "WithMaxFrame")
		Expect(oe.Reason).To(ContainSubstring("given 100 bytes; it takes 1024.."))
	})

	It("tells where each option applies, so a backend can split a list", func() {
		Expect(WithModules("m").appliesTo(targetContainer)).To(BeTrue())
		Expect(WithModules("m").appliesTo(targetAttachedPool)).To(BeFalse())
		Expect(WithSize(2).appliesTo(targetAttachedPool)).To(BeTrue())
		Expect(WithMaxFrame(1024).appliesTo(targetClient)).To(BeTrue())
		Expect(WithSize(2).String()).To(Equal("WithSize"))
		s, set := strategyOf(WithSize(2))
		Expect([]any{s, set}).To(Equal([]any{Spawn, false}))
		s, set = strategyOf(WithStrategy(ZygoteFork))
		Expect([]any{s, set}).To(Equal([]any{ZygoteFork, true}))
	})

	It("builds a container's zygote command from the same options as StartZygote", func() {
		cmd, err := newZygoteCommand(targetContainer, WithModules("a", "b"), WithPreload("numpy"),
			WithPythonPath("handlers"), WithEnv("K=V"), WithMaxFrame(4096), withRunID("run-x"))
		Expect(err).NotTo(HaveOccurred())
		Expect(cmd.Args).To(Equal([]string{"-m", "pyharness_worker.zygote", "--max-frame", "4096",
			"--preload", "numpy", "--module", "a", "--module", "b"}))
		Expect(cmd.PythonPath).To(Equal([]string{"handlers"}))
		// The user's own first, then the thread limits (the zygote gets them
		// before it imports anything; in a container as on this machine).
		Expect(cmd.Env).To(HaveExactElements(Equal("K=V"), HavePrefix("OMP_NUM_THREADS="), HavePrefix("OPENBLAS_NUM_THREADS="),
			HavePrefix("MKL_NUM_THREADS="), HavePrefix("VECLIB_MAXIMUM_THREADS="), HavePrefix("NUMEXPR_NUM_THREADS="),
			HavePrefix("PYHARNESS_THREAD_LIMIT="))) // the marker: what pyharness set, for the pool to report
		// This process's OMP_NUM_THREADS does not reach the container: it
		// is set there too (a value of the user's goes in WithEnv).
		GinkgoT().Setenv("OMP_NUM_THREADS", "7")
		remote, err := newZygoteCommand(targetContainer)
		Expect(err).NotTo(HaveOccurred())
		Expect(remote.Env).To(ContainElement(HavePrefix("OMP_NUM_THREADS=")))
		Expect(remote.Env).NotTo(ContainElement("OMP_NUM_THREADS=7"))
		mine, err := newZygoteCommand(targetContainer, WithEnv("OMP_NUM_THREADS=3"))
		Expect(err).NotTo(HaveOccurred())
		Expect(mine.Env).To(ContainElement("OMP_NUM_THREADS=3"))
		Expect(mine.Env).To(HaveLen(1+4+1), "the user's, the other four, the marker")
		off, err := newZygoteCommand(targetContainer, WithEnv("K=V"), WithThreadLimits(false))
		Expect(err).NotTo(HaveOccurred())
		Expect(off.Env).To(Equal([]string{"K=V"}))
		Expect(cmd.RunID).To(Equal("run-x"))
	})
})
