package fault

import (
	"context"
	"encoding/json"

	"iter"
	"math"
	"runtime"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness"
	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/realpy"
	"github.com/pyharness/pyharness/wire"
)

// goFailure is what talkback_handlers.ask_typed returns for a GoError.
type goFailure struct{ Class, Type, Kind, Message string }

func askTyped(ctx context.Context, w *realpy.Worker, name any) goFailure {
	GinkgoHelper()
	var got goFailure
	Expect(w.Call(ctx, "ask_typed", map[string]any{"name": name}, &got)).To(Succeed(), "call_go(%#v)", name)
	return got
}

// streamCaller is what the stream faults run on: a worker or a pool.
type streamCaller interface {
	pyharness.Caller
	Stream(ctx context.Context, method string, args any) iter.Seq2[json.RawMessage, error]
}

var _ = describe("Callbacks that misbehave (#22)", harness.Integration, harness.PythonReal, func() {
	quits := realpy.WithCallback("quits", func(context.Context, json.RawMessage) (any, error) {
		runtime.Goexit() // what t.FailNow inside a callback does
		return nil, nil
	})

	It("answers a Go function that calls runtime.Goexit with GoError goexit when the call has no deadline", func(ctx SpecContext) {
		w := startWorker(ctx, realpy.WithModules("talkback_handlers"), quits)
		got := askTyped(ctx, w, "quits") // ctx has no deadline: before #22 this hung until the spec's timeout
		Expect(got).To(Equal(goFailure{Class: "GoError", Type: wire.GoExitType, Kind: wire.KindGoexit,
			Message: `Go function "quits" called runtime.Goexit (t.FailNow, t.Fatal or t.SkipNow inside a callback?) and returned no answer`}))
		expectAlive(ctx, w)
	}, SpecTimeout(20*time.Second))

	It("answers a Go function that calls runtime.Goexit with GoError goexit within the call's deadline, not DeadlineExceeded", func(ctx SpecContext) {
		w := startWorker(ctx, realpy.WithModules("talkback_handlers"), quits)
		short, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		got := askTyped(short, w, "quits")
		Expect(got.Kind).To(Equal(wire.KindGoexit))
		Expect(short.Err()).NotTo(HaveOccurred(), "answered before the deadline")
		expectAlive(ctx, w)
	}, noHang)

	It("answers a panic with GoError panic, and the worker lives", func(ctx SpecContext) {
		w := startWorker(ctx, realpy.WithModules("talkback_handlers"),
			realpy.WithCallback("panicky", func(context.Context, json.RawMessage) (any, error) { panic("the Go side broke") }))
		got := askTyped(ctx, w, "panicky")
		Expect(got.Class).To(Equal("GoError"))
		Expect(got.Type).To(Equal(wire.GoPanicType))
		Expect(got.Kind).To(Equal(wire.KindPanic))
		Expect(got.Message).To(HavePrefix(`Go function "panicky" panicked: the Go side broke`))
		expectAlive(ctx, w)
	}, noHang)

	It("answers 100 MiB with a 1 MiB frame limit with GoError too_large, and the worker lives", func(ctx SpecContext) {
		w := startWorker(ctx, realpy.WithModules("talkback_handlers"), realpy.WithMaxFrame(1<<20),
			realpy.WithCallback("huge", func(context.Context, json.RawMessage) (any, error) { return strings.Repeat("x", 100<<20), nil }),
			realpy.WithCallback("just_over", func(context.Context, json.RawMessage) (any, error) { return strings.Repeat("x", 1<<20-40), nil }))
		pid := w.Pid()
		got := askTyped(ctx, w, "huge")
		Expect(got).To(Equal(goFailure{Class: "GoError", Type: wire.GoErrorType, Kind: wire.KindTooLarge,
			Message: `the result of Go function "huge" is 104857602 bytes, over the frame limit of 1048576`}))
		got = askTyped(ctx, w, "just_over") // the result fits, its $return frame does not
		Expect(got.Kind).To(Equal(wire.KindTooLarge))
		Expect(got.Message).To(MatchRegexp(`^the result of Go function "just_over" is 10486\d\d bytes, over the frame limit of 1048576$`))
		expectAlive(ctx, w)
		Expect(w.Pid()).To(Equal(pid))
	}, noHang)

	It("answers a result JSON cannot carry (a channel, NaN) with GoError unencodable, and the worker lives", func(ctx SpecContext) {
		w := startWorker(ctx, realpy.WithModules("talkback_handlers"),
			realpy.WithCallback("channel", func(context.Context, json.RawMessage) (any, error) { return make(chan int), nil }),
			realpy.WithCallback("nan", func(context.Context, json.RawMessage) (any, error) { return math.NaN(), nil }))
		Expect(askTyped(ctx, w, "channel")).To(Equal(goFailure{Class: "GoError", Type: wire.GoErrorType, Kind: wire.KindUnencodable,
			Message: `the result of Go function "channel" cannot cross to Python: encode as JSON: json: unsupported type: chan int`}))
		Expect(askTyped(ctx, w, "nan")).To(Equal(goFailure{Class: "GoError", Type: wire.GoErrorType, Kind: wire.KindUnencodable,
			Message: `the result of Go function "nan" cannot cross to Python: encode as JSON: json: unsupported value: NaN`}))
		expectAlive(ctx, w)
	}, noHang)

	It("names the Go function a call waited for when its deadline passed there, and keeps the worker", func(ctx SpecContext) {
		release := make(chan struct{})
		DeferCleanup(func() { close(release) }) // before the leak check: the blocked function returns
		w := startWorker(ctx, realpy.WithModules("talkback_handlers"), realpy.WithCallback("block", func(context.Context, json.RawMessage) (any, error) {
			<-release // ignores its context
			return nil, nil
		}))
		short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		err := w.Call(short, "ask_typed", map[string]string{"name": "block"}, nil)
		Expect(err).To(MatchError(context.DeadlineExceeded))
		Expect(err).To(MatchError(MatchRegexp(`^realpy: worker \S+ \(pid \d+\): call "ask_typed": context deadline exceeded after \S+ \(the deadline of its context, (29\d|300)ms from the call\), ` +
			`while the Go function "block" it called ran: the worker was sent \$cancel, and is kept if it ends the call within its cancel grace \(250ms\)$`)))
		expectAlive(ctx, w)
	}, noHang)

	It("ends a call whose worker is killed while a Go function runs with ErrWorkerExited, without waiting for the function", func(ctx SpecContext) {
		release, returned := make(chan struct{}), make(chan struct{})
		DeferCleanup(func() { // before the leak check: the blocked function returns, and is waited for
			close(release) // (it used Gomega, which a later spec may reconfigure)
			Eventually(returned).Should(BeClosed())
		})
		workers := make(chan *realpy.Worker, 1)
		w := startWorker(ctx, realpy.WithModules("talkback_handlers"), realpy.WithCallback("kill_and_block", func(context.Context, json.RawMessage) (any, error) {
			defer close(returned)
			defer GinkgoRecover()
			Expect((<-workers).Kill()).To(Succeed())
			<-release // ignores its context, and its call has no deadline
			return nil, nil
		}))
		workers <- w
		err := w.Call(ctx, "ask_typed", map[string]string{"name": "kill_and_block"}, nil)
		Expect(err).To(MatchError(wire.ErrWorkerExited))
		Expect(err).To(MatchError(ContainSubstring(`call "ask_typed": worker`)))
	}, SpecTimeout(20*time.Second))

	It("raises UnknownCallback for call_go(\"\") and malformed names, and the worker lives", func(ctx SpecContext) {
		w := startWorker(ctx, realpy.WithModules("talkback_handlers"))
		pid := w.Pid()
		for _, c := range []struct {
			name any
			text string
		}{
			{"", `callback name '' is not a valid name: it must be a non-empty string`},
			{42, `callback name 42 is not a valid name: it must be a non-empty string`},
			{nil, `callback name None is not a valid name: it must be a non-empty string`},
			{json.RawMessage(`"\ud800"`), `callback name '\ud800' is not a valid name: it must be a non-empty string`}, // a lone surrogate
		} {
			Expect(askTyped(ctx, w, c.name)).To(Equal(goFailure{Class: wire.UnknownCallback, Type: wire.UnknownCallback, Kind: wire.KindUnknownCallback, Message: c.text}))
		}
		Expect(askTyped(ctx, w, "nobody")).To(Equal(goFailure{Class: wire.UnknownCallback, Type: wire.UnknownCallback, Kind: wire.KindUnknownCallback,
			Message: `no Go function "nobody" is registered for this call`}))
		expectAlive(ctx, w)
		Expect(w.Pid()).To(Equal(pid))
	}, noHang)
})

var _ = describe("A stream whose consumer panics (#22)", harness.Integration, harness.PythonReal, func() {
	opts := func(extra ...realpy.Option) []realpy.Option {
		return append([]realpy.Option{realpy.WithOutput(GinkgoWriter), realpy.WithPythonPath(testdataDir()), realpy.WithModules("talkback_handlers")}, extra...)
	}
	pool := func(ctx SpecContext, extra ...realpy.Option) *realpy.Pool {
		GinkgoHelper()
		p, err := realpy.StartPool(ctx, opts(append([]realpy.Option{realpy.WithSize(1)}, extra...)...)...)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(p.Close)
		return p
	}
	// consume takes items until the third, then leaves the loop the way
	// leave does (a panic, recovered as Ginkgo recovers a failed Expect;
	// runtime.Goexit, as t.FailNow does); it returns what the panic was.
	consume := func(ctx context.Context, s streamCaller, method string, leave func()) {
		GinkgoHelper()
		done := make(chan any, 1)
		go func() {
			defer GinkgoRecover()
			finished := false
			defer func() {
				p := recover()
				if !finished && p == nil {
					p = "Goexit"
				}
				done <- p
			}()
			taken := 0
			for _, err := range s.Stream(ctx, method, nil) {
				Expect(err).NotTo(HaveOccurred())
				if taken++; taken == 3 {
					leave()
				}
			}
			finished = true
		}()
		Eventually(done).Should(Receive(Or(Equal("a failed assertion in the loop"), Equal("Goexit"))))
	}
	panics := func() { panic("a failed assertion in the loop") }

	DescribeTable("cancels and settles it (the generator's finally runs) before the worker serves the next call",
		func(ctx SpecContext, target func(ctx SpecContext) streamCaller, session bool, leave func()) {
			if session {
				ctx2 := wire.WithSession(ctx, "panicky-consumer")
				s := target(ctx)
				consume(ctx2, s, "numbers", leave)
				var closed []string
				Expect(s.Call(ctx2, "were_closed", nil, &closed)).To(Succeed(), "the worker was not handed out mid-stream")
				Expect(closed).To(Equal([]string{"numbers"}))
				var back string
				Expect(s.Call(ctx2, "echo", "next", &back)).To(Succeed())
				Expect(back).To(Equal("next"))
				return
			}
			s := target(ctx)
			consume(ctx, s, "numbers", leave)
			var closed []string
			Expect(s.Call(ctx, "were_closed", nil, &closed)).To(Succeed(), "the worker was not handed out mid-stream")
			Expect(closed).To(Equal([]string{"numbers"}), "the generator's finally ran before the next call")
			var back string
			Expect(s.Call(ctx, "echo", "next", &back)).To(Succeed())
			Expect(back).To(Equal("next"))
		},
		Entry("on a worker, a panic", func(ctx SpecContext) streamCaller { return startWorker(ctx, realpy.WithModules("talkback_handlers")) }, false, panics, noHang),
		Entry("on a worker, runtime.Goexit", func(ctx SpecContext) streamCaller { return startWorker(ctx, realpy.WithModules("talkback_handlers")) }, false, runtime.Goexit, noHang),
		Entry("on a spawned pool of one", func(ctx SpecContext) streamCaller { return pool(ctx) }, false, panics, noHang),
		Entry("on a spawned pool of one, in a session", func(ctx SpecContext) streamCaller { return pool(ctx) }, true, panics, noHang),
		Entry("on a forked pool of one", func(ctx SpecContext) streamCaller { return pool(ctx, realpy.WithStrategy(realpy.ZygoteFork)) }, false, panics, noHang),
		Entry("on a forked pool of one, in a session, runtime.Goexit", func(ctx SpecContext) streamCaller {
			return pool(ctx, realpy.WithStrategy(realpy.ZygoteFork))
		}, true, runtime.Goexit, noHang),
	)

	It("replaces the worker whose generator does not settle within the cancel grace, never hands it out", func(ctx SpecContext) {
		p := pool(ctx, realpy.WithCancelGrace(200*time.Millisecond))
		events := p.Subscribe()
		DeferCleanup(events.Close)
		before := p.Workers()[0].Pid()
		consume(ctx, p, "stubborn", panics)
		var back string
		Expect(p.Call(ctx, "echo", "next", &back)).To(Succeed(), "answered by the replacement")
		Expect(back).To(Equal("next"))
		Eventually(p.Workers).Should(HaveLen(1), "the pool is back to its size")
		Expect(p.Workers()[0].Pid()).NotTo(Equal(before))
		var replaced realpy.Event
		Eventually(events.C).Should(Receive(&replaced, HaveField("Kind", realpy.EventReplaced)))
	}, noHang)
})
