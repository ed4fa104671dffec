package contract

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness"
	"github.com/pyharness/pyharness/wire"
)

const specTimeout = time.Minute

func nan() float64 { return math.NaN() }

// roundTrip echoes v and expects it back into a value of the same type.
func roundTrip[T any](ctx context.Context, py pyharness.Interpreter, v T) {
	var back T
	ExpectWithOffset(2, py.Call(ctx, "echo", v, &back)).To(Succeed())
	ExpectWithOffset(2, back).To(Equal(v))
}

func pythonError(err error) *wire.PythonError {
	var pyErr *wire.PythonError
	ExpectWithOffset(1, errors.As(err, &pyErr)).To(BeTrue(), "want a *wire.PythonError, got %v", err)
	return pyErr
}

func alive(ctx context.Context, py pyharness.Interpreter) {
	var back string
	ExpectWithOffset(1, py.Call(ctx, "echo", "still here", &back)).To(Succeed())
	ExpectWithOffset(1, back).To(Equal("still here"))
}

// Behaviours is the contract, in the order specs are registered.
var Behaviours = []Behaviour{
	{"answers ping with its pid and the protocol version", func(ctx context.Context, py pyharness.Interpreter) {
		var hello struct {
			Pid      int `json:"pid"`
			Protocol int `json:"protocol"`
			MaxFrame int `json:"max_frame"`
		}
		Expect(py.Call(ctx, "ping", nil, &hello)).To(Succeed())
		Expect(hello.Pid).To(BeNumerically(">", 0))
		Expect(hello.Protocol).To(Equal(wire.ProtocolVersion))
		Expect(hello.MaxFrame).To(BeNumerically(">", 0))
	}},
	{"round-trips null", func(ctx context.Context, py pyharness.Interpreter) {
		back := any("not null")
		Expect(py.Call(ctx, "echo", nil, &back)).To(Succeed())
		Expect(back).To(BeNil())
	}},
	{"round-trips booleans", func(ctx context.Context, py pyharness.Interpreter) {
		roundTrip(ctx, py, []bool{true, false})
	}},
	{"round-trips floats", func(ctx context.Context, py pyharness.Interpreter) {
		roundTrip(ctx, py, []float64{1.5, -0.25, 1e300, 5e-324, math.MaxFloat64, 0.1})
	}},
	{"round-trips integers beyond 2^53 exactly", func(ctx context.Context, py pyharness.Interpreter) {
		roundTrip(ctx, py, []uint64{1<<53 + 1, math.MaxUint64})
		roundTrip(ctx, py, []int64{math.MinInt64, -(1<<53 + 1)})
	}},
	{"decodes numbers into an interface as json.Number", func(ctx context.Context, py pyharness.Interpreter) {
		var back any
		Expect(py.Call(ctx, "echo", uint64(1)<<60+7, &back)).To(Succeed())
		Expect(back).To(Equal(json.Number("1152921504606846983")))
	}},
	{"round-trips integers beyond 64 bits as big.Int", func(ctx context.Context, py pyharness.Interpreter) {
		huge, _ := new(big.Int).SetString("-340282366920938463463374607431768211457", 10)
		back := new(big.Int)
		Expect(py.Call(ctx, "echo", huge, back)).To(Succeed())
		Expect(back.String()).To(Equal(huge.String()))
	}},
	{"round-trips non-BMP characters and combining marks", func(ctx context.Context, py pyharness.Interpreter) {
		roundTrip(ctx, py, map[string]string{"😀 key": "👩‍👩‍👧 e\u0301 𝔘𝔫𝔦 漢字 שלום", "nul": "a\x00b", "ctl": "\t\n\r\u001f"})
	}},
	{"round-trips nested structures", func(ctx context.Context, py pyharness.Interpreter) {
		var v any = map[string]any{"a": []any{map[string]any{"b": []any{json.Number("1"), "x", nil, true}}}, "c": map[string]any{}}
		var back any
		Expect(py.Call(ctx, "echo", v, &back)).To(Succeed())
		Expect(back).To(Equal(v))
	}},
	{"round-trips empty values", func(ctx context.Context, py pyharness.Interpreter) {
		roundTrip(ctx, py, "")
		roundTrip(ctx, py, []int{})
		roundTrip(ctx, py, map[string]int{})
	}},
	{"round-trips a 1 MB string", func(ctx context.Context, py pyharness.Interpreter) {
		roundTrip(ctx, py, strings.Repeat("0123456789abcdé", 1<<20/16))
	}},
	{"decodes into typed structs", func(ctx context.Context, py pyharness.Interpreter) {
		var sum int
		Expect(py.Call(ctx, "add", map[string]int{"a": 40, "b": 2}, &sum)).To(Succeed())
		Expect(sum).To(Equal(42))
	}},
	{"reports a reply of the wrong shape as a decode error and lives on", func(ctx context.Context, py pyharness.Interpreter) {
		var n int
		err := py.Call(ctx, "echo", "text", &n)
		var decodeErr *wire.DecodeError
		Expect(errors.As(err, &decodeErr)).To(BeTrue(), "got %v", err)
		alive(ctx, py)
	}},
	{"raises builtin exceptions with their type and message", func(ctx context.Context, py pyharness.Interpreter) {
		pyErr := pythonError(py.Call(ctx, "fail", map[string]string{"type": "KeyError", "message": "model"}, nil))
		Expect(pyErr.Kind).To(Equal(wire.KindException))
		Expect(pyErr.Type).To(Equal("KeyError"))
		Expect(pyErr.Message).To(ContainSubstring("model"))
	}},
	{"raises custom exception types by name", func(ctx context.Context, py pyharness.Interpreter) {
		pyErr := pythonError(py.Call(ctx, "fail", map[string]string{"type": "ModelNotLoaded", "message": "weights missing"}, nil))
		Expect(pyErr.Type).To(Equal("ModelNotLoaded"))
		Expect(pyErr.Message).To(Equal("weights missing"))
	}},
	{"carries a traceback that ends with the exception", func(ctx context.Context, py pyharness.Interpreter) {
		pyErr := pythonError(py.Call(ctx, "fail", map[string]string{"type": "ValueError", "message": "bad é"}, nil))
		Expect(pyErr.Traceback).To(HavePrefix("Traceback (most recent call last):"))
		Expect(strings.TrimSpace(pyErr.Traceback)).To(HaveSuffix("ValueError: bad é"))
	}},
	{"lives on after an exception", func(ctx context.Context, py pyharness.Interpreter) {
		Expect(py.Call(ctx, "fail", nil, nil)).To(HaveOccurred())
		alive(ctx, py)
	}},
	{"types an unknown method and lives on", func(ctx context.Context, py pyharness.Interpreter) {
		err := py.Call(ctx, "no_such_method", nil, nil)
		Expect(err).To(MatchError(wire.ErrUnknownMethod))
		Expect(pythonError(err).Kind).To(Equal(wire.KindUnknownMethod))
		alive(ctx, py)
	}},
	{"types an unserialisable result (an object) and lives on", func(ctx context.Context, py pyharness.Interpreter) {
		err := py.Call(ctx, "unserializable", nil, nil)
		Expect(err).To(MatchError(wire.ErrUnserializable))
		Expect(pythonError(err).Type).To(Equal("TypeError"))
		alive(ctx, py)
	}},
	{"types an unserialisable result (NaN) and lives on", func(ctx context.Context, py pyharness.Interpreter) {
		err := py.Call(ctx, "not_a_number", nil, nil)
		Expect(err).To(MatchError(wire.ErrUnserializable))
		Expect(pythonError(err).Type).To(Equal("ValueError"))
		alive(ctx, py)
	}},
	{"round-trips values nested wire.MaxDepth levels deep", func(ctx context.Context, py pyharness.Interpreter) {
		deep := json.RawMessage(strings.Repeat("[", wire.MaxDepth) + strings.Repeat("]", wire.MaxDepth))
		var back json.RawMessage
		Expect(py.Call(ctx, "echo", deep, &back)).To(Succeed())
		Expect(wire.Depth(back)).To(Equal(wire.MaxDepth))
	}},
	{"refuses args nested thousands deep as a bad request and lives on", func(ctx context.Context, py pyharness.Interpreter) {
		deep := json.RawMessage(strings.Repeat("[", 5000) + strings.Repeat("]", 5000))
		err := py.Call(ctx, "echo", deep, nil)
		Expect(err).To(MatchError(wire.ErrBadRequest))
		Expect(err).To(MatchError(ContainSubstring("nested too deep")))
		alive(ctx, py)
	}},
	{"round-trips integers of 20,000 digits", func(ctx context.Context, py pyharness.Interpreter) {
		n, _ := new(big.Int).SetString(strings.Repeat("9", 20000), 10)
		var back big.Int
		Expect(py.Call(ctx, "echo", n, &back)).To(Succeed())
		Expect(back.Cmp(n)).To(BeZero())
		alive(ctx, py)
	}},
	{"reports an exception whose __str__ raises, by its type, and lives on", func(ctx context.Context, py pyharness.Interpreter) {
		err := py.Call(ctx, "broken_str", nil, nil)
		Expect(pythonError(err).Type).To(Equal("BrokenStr"))
		Expect(pythonError(err).Message).To(ContainSubstring("str() raised"))
		alive(ctx, py)
	}},
	{"keeps the exception type when its message holds a lone surrogate", func(ctx context.Context, py pyharness.Interpreter) {
		err := py.Call(ctx, "fail", json.RawMessage(`{"type": "ValueError", "message": "bad \ud800 byte"}`), nil)
		Expect(pythonError(err).Kind).To(Equal(wire.KindException))
		Expect(pythonError(err).Type).To(Equal("ValueError"))
		Expect(pythonError(err).Message).To(HavePrefix("bad "))
		alive(ctx, py)
	}},
	{"refuses unserialisable args before sending", func(ctx context.Context, py pyharness.Interpreter) {
		Expect(py.Call(ctx, "echo", math.Inf(-1), nil)).To(MatchError(wire.ErrUnserializable))
		Expect(py.Call(ctx, "echo", map[string]any{"f": func() {}}, nil)).To(MatchError(wire.ErrUnserializable))
		alive(ctx, py)
	}},
	{"returns at once for a context already cancelled", func(ctx context.Context, py pyharness.Interpreter) {
		done, cancel := context.WithCancel(ctx)
		cancel()
		Expect(py.Call(done, "echo", 1, nil)).To(MatchError(context.Canceled))
		alive(ctx, py)
	}},
	{"returns the deadline error when a call hangs past it", func(ctx context.Context, py pyharness.Interpreter) {
		short, cancel := context.WithTimeout(ctx, 20*time.Millisecond) // hang never answers: any deadline passes
		defer cancel()
		Expect(py.Call(short, "hang", nil, nil)).To(MatchError(context.DeadlineExceeded))
	}},
	{"returns context.Canceled when a call is cancelled mid-way", func(ctx context.Context, py pyharness.Interpreter) {
		cancellable, cancel := context.WithCancel(ctx)
		result := make(chan error, 1)
		go func() { result <- py.Call(cancellable, "hang", nil, nil) }()
		Consistently(result, 20*time.Millisecond).ShouldNot(Receive(), "a hang does not answer")
		cancel()
		Eventually(result).Should(Receive(MatchError(context.Canceled)))
	}},
	{"fails a call whose worker crashes with ErrWorkerExited", func(ctx context.Context, py pyharness.Interpreter) {
		err := py.Call(ctx, "crash", map[string]int{"code": 3}, nil)
		Expect(err).To(MatchError(wire.ErrWorkerExited))
	}},
	{"answers concurrent callers each with their own reply", func(ctx context.Context, py pyharness.Interpreter) {
		var wg sync.WaitGroup
		errs := make(chan error, 32)
		for i := range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var back map[string]int
				if err := py.Call(ctx, "echo", map[string]int{"i": i}, &back); err != nil {
					errs <- err
				} else if back["i"] != i {
					errs <- fmt.Errorf("caller %d got %v", i, back)
				}
			}()
		}
		wg.Wait()
		close(errs)
		Expect(errs).To(BeEmpty())
	}},
	{"carries session ids: state is kept per session", func(ctx context.Context, py pyharness.Interpreter) {
		a, b := wire.WithSession(ctx, "contract-a"), wire.WithSession(ctx, "contract-b")
		var n int
		Expect(py.Call(a, "remember", "x", &n)).To(Succeed())
		Expect(py.Call(a, "remember", "y", &n)).To(Succeed())
		Expect(n).To(Equal(2))
		Expect(py.Call(b, "remember", "z", &n)).To(Succeed())
		Expect(n).To(Equal(1))
	}},
	{"clears a session's state on reset", func(ctx context.Context, py pyharness.Interpreter) {
		s := wire.WithSession(ctx, "contract-reset")
		var n int
		Expect(py.Call(s, "remember", 1, &n)).To(Succeed())
		var cleared struct{ Cleared int }
		Expect(py.Call(s, "reset", nil, &cleared)).To(Succeed())
		Expect(cleared.Cleared).To(Equal(1))
		Expect(py.Call(s, "remember", 2, &n)).To(Succeed())
		Expect(n).To(Equal(1))
	}},
	{"refuses calls after Close with ErrClosed", func(ctx context.Context, py pyharness.Interpreter) {
		Expect(py.Close()).To(Succeed())
		Expect(py.Call(ctx, "echo", 1, nil)).To(MatchError(wire.ErrClosed))
		Expect(py.Close()).To(Succeed(), "Close is idempotent")
	}},
	{"reports an oversize reply as ErrFrameTooLarge and lives on", func(ctx context.Context, py pyharness.Interpreter) {
		err := py.Call(ctx, "big", wire.DefaultMaxFrame+1, nil)
		Expect(err).To(MatchError(wire.ErrFrameTooLarge))
		alive(ctx, py)
	}},

	{"streams a generator's items in order, then ends", func(ctx context.Context, py pyharness.Interpreter) {
		var got []int
		for v, err := range wire.Items[int](streamer(py).Stream(ctx, "count", map[string]int{"n": 40})) {
			Expect(err).NotTo(HaveOccurred())
			got = append(got, v)
		}
		want := make([]int, 40)
		for i := range want {
			want[i] = i
		}
		Expect(got).To(Equal(want), "every item, in order, past the stream window")
		alive(ctx, py)
	}},
	{"streams a plain result as one item, and refuses a stream's method as a plain call", func(ctx context.Context, py pyharness.Interpreter) {
		var items []string
		for v, err := range wire.Items[string](streamer(py).Stream(ctx, "echo", "one")) {
			Expect(err).NotTo(HaveOccurred())
			items = append(items, v)
		}
		Expect(items).To(Equal([]string{"one"}))
		pyErr := pythonError(py.Call(ctx, "count", map[string]int{"n": 3}, nil))
		Expect(pyErr.Kind).To(Equal(wire.KindBadRequest))
		Expect(pyErr.Type).To(Equal("StreamingMethod"))
		Expect(pyErr.Message).To(ContainSubstring("call it with Stream"))
		alive(ctx, py)
	}},
	{"ends a stream with the exception raised mid-stream, typed, and lives on", func(ctx context.Context, py pyharness.Interpreter) {
		var got []int
		var last error
		for v, err := range wire.Items[int](streamer(py).Stream(ctx, "fail_after", map[string]int{"n": 3})) {
			if err != nil {
				last = err
				continue
			}
			got = append(got, v)
		}
		Expect(got).To(Equal([]int{0, 1, 2}))
		pyErr := pythonError(last)
		Expect(pyErr.Type).To(Equal("ValueError"))
		Expect(pyErr.Message).To(Equal("failed after 3 items"))
		alive(ctx, py)
	}},
	{"closes the generator when the loop breaks: its finally runs", func(ctx context.Context, py pyharness.Interpreter) {
		ctx = wire.WithSession(ctx, "contract-stream") // a pool's next call goes to the same worker
		taken := 0
		for _, err := range streamer(py).Stream(ctx, "count", map[string]int{"n": 1000000}) {
			Expect(err).NotTo(HaveOccurred())
			if taken++; taken == 3 {
				break
			}
		}
		var closed []string
		Expect(py.Call(ctx, "were_closed", nil, &closed)).To(Succeed())
		Expect(closed).To(ContainElement("count"), "the generator was closed before the loop ended")
	}},
	{"cancels an async handler when the call's context ends, and lives on", func(ctx context.Context, py pyharness.Interpreter) {
		ctx = wire.WithSession(ctx, "contract-nap") // a pool's next call goes to the same worker
		started := make(chan struct{})
		callCtx, cancel := context.WithCancel(wire.WithCallbacks(ctx, map[string]wire.Callback{
			"started": func(context.Context, json.RawMessage) (any, error) { close(started); return nil, nil },
		}))
		defer cancel()
		result := make(chan error, 1)
		go func() { result <- py.Call(callCtx, "nap", nil, nil) }()
		Eventually(started).Should(BeClosed())
		cancel()
		Eventually(result).Should(Receive(MatchError(context.Canceled)))
		// The cancelled call ends in the background (within the cancel
		// grace); the session's next calls wait for it on its worker.
		alive(ctx, py)
		var closed []string
		Expect(py.Call(ctx, "were_closed", nil, &closed)).To(Succeed())
		Expect(closed).To(ContainElement("nap"), "CancelledError reached the handler")
	}},
	{"answers a handler's call into Go with the function's result", func(ctx context.Context, py pyharness.Interpreter) {
		ctx = wire.WithCallbacks(ctx, map[string]wire.Callback{
			"weather": wire.CallbackFunc(func(_ context.Context, args struct{ City string }) (string, error) {
				return "rain in " + args.City, nil
			}),
		})
		var reply struct{ Answer string }
		Expect(py.Call(ctx, "ask", map[string]any{"name": "weather", "args": map[string]string{"city": "Oslo"}}, &reply)).To(Succeed())
		Expect(reply.Answer).To(Equal("rain in Oslo"))
	}},
	{"raises a Go function's error, panic or absence in the handler as GoError", func(ctx context.Context, py pyharness.Interpreter) {
		ctx = wire.WithCallbacks(ctx, map[string]wire.Callback{
			"broken":  func(context.Context, json.RawMessage) (any, error) { return nil, errors.New("no weather today") },
			"panicky": func(context.Context, json.RawMessage) (any, error) { panic("boom") },
		})
		type failure struct{ Error, Message string }
		for name, want := range map[string]failure{
			"broken":  {Error: wire.GoErrorType, Message: "no weather today"},
			"panicky": {Error: wire.GoPanicType, Message: `Go function "panicky" panicked: boom`},
			"missing": {Error: wire.UnknownCallback, Message: `no Go function "missing" is registered for this call`},
		} {
			var got failure
			Expect(py.Call(ctx, "ask", map[string]any{"name": name}, &got)).To(Succeed())
			Expect(got.Error).To(Equal(want.Error), name)
			Expect(got.Message).To(HavePrefix(want.Message), name)
		}
		alive(ctx, py)
	}},
	{"gives the Go function the call's deadline", func(ctx context.Context, py pyharness.Interpreter) {
		deadline := time.Now().Add(time.Minute)
		callCtx, cancel := context.WithDeadline(wire.WithCallbacks(ctx, map[string]wire.Callback{
			"deadline": func(ctx context.Context, _ json.RawMessage) (any, error) {
				d, ok := ctx.Deadline()
				return ok && d.Equal(deadline), nil
			},
		}), deadline)
		defer cancel()
		var reply struct{ Answer bool }
		Expect(py.Call(callCtx, "ask", map[string]any{"name": "deadline"}, &reply)).To(Succeed())
		Expect(reply.Answer).To(BeTrue())
	}},
}

// streamer is py as a pyharness.Streamer: every interpreter streams.
func streamer(py pyharness.Interpreter) pyharness.Streamer {
	s, ok := py.(pyharness.Streamer)
	ExpectWithOffset(1, ok).To(BeTrue(), "%T does not stream", py)
	return s
}
