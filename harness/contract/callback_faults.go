package contract

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"runtime"
	"strings"

	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness"
	"github.com/pyharness/pyharness/wire"
)

// Callbacks and streams that misbehave (#22): each is a typed answer, and
// the interpreter serves the next call.
func init() { Behaviours = append(Behaviours, callbackFaults...) }

// goFailure is what the contract's ask handler returns for a GoError.
type goFailure struct{ Error, Kind, Class, Message string }

func ask(ctx context.Context, py pyharness.Interpreter, name any) goFailure {
	var got goFailure
	ExpectWithOffset(1, py.Call(ctx, "ask", map[string]any{"name": name}, &got)).To(Succeed(), "call_go(%#v)", name)
	return got
}

var callbackFaults = []Behaviour{
	{"raises a Go function's panic, Goexit and unencodable result as GoError of that kind, and lives on", func(ctx context.Context, py pyharness.Interpreter) {
		ctx = wire.WithCallbacks(ctx, map[string]wire.Callback{
			"broken":  func(context.Context, json.RawMessage) (any, error) { return nil, errors.New("no weather today") },
			"panicky": func(context.Context, json.RawMessage) (any, error) { panic("boom") },
			"quits":   func(context.Context, json.RawMessage) (any, error) { runtime.Goexit(); return nil, nil },
			"channel": func(context.Context, json.RawMessage) (any, error) { return make(chan int), nil },
			"nan":     func(context.Context, json.RawMessage) (any, error) { return math.NaN(), nil },
		})
		for name, want := range map[string]goFailure{
			"broken":  {Error: wire.GoErrorType, Kind: wire.KindGoError, Message: "no weather today"},
			"panicky": {Error: wire.GoPanicType, Kind: wire.KindPanic, Message: `Go function "panicky" panicked: boom`},
			"quits":   {Error: wire.GoExitType, Kind: wire.KindGoexit, Message: `Go function "quits" called runtime.Goexit (t.FailNow, t.Fatal or t.SkipNow inside a callback?) and returned no answer`},
			"channel": {Error: wire.GoErrorType, Kind: wire.KindUnencodable, Message: `the result of Go function "channel" cannot cross to Python: encode as JSON: json: unsupported type: chan int`},
			"nan":     {Error: wire.GoErrorType, Kind: wire.KindUnencodable, Message: `the result of Go function "nan" cannot cross to Python: encode as JSON: json: unsupported value: NaN`},
		} {
			got := ask(ctx, py, name)
			Expect(got.Class).To(Equal("GoError"), name)
			Expect(got.Error).To(Equal(want.Error), name)
			Expect(got.Kind).To(Equal(want.Kind), name)
			Expect(got.Message).To(HavePrefix(want.Message), name)
		}
		alive(ctx, py)
	}},
	{"raises a Go function's result over the frame limit as GoError too_large, and lives on", func(ctx context.Context, py pyharness.Interpreter) {
		var hello struct {
			MaxFrame int `json:"max_frame"`
		}
		Expect(py.Call(ctx, "ping", nil, &hello)).To(Succeed())
		ctx = wire.WithCallbacks(ctx, map[string]wire.Callback{
			"huge": func(context.Context, json.RawMessage) (any, error) { return strings.Repeat("x", hello.MaxFrame), nil },
		})
		got := ask(ctx, py, "huge")
		Expect(got.Class).To(Equal("GoError"))
		Expect(got.Kind).To(Equal(wire.KindTooLarge))
		Expect(got.Message).To(MatchRegexp(`^the result of Go function "huge" is \d+ bytes, over the frame limit of \d+$`))
		alive(ctx, py)
	}},
	{"raises UnknownCallback for an empty or malformed callback name, and lives on", func(ctx context.Context, py pyharness.Interpreter) {
		for _, name := range []any{"", 42, nil} {
			got := ask(ctx, py, name)
			Expect(got.Class).To(Equal(wire.UnknownCallback), "call_go(%#v)", name)
			Expect(got.Kind).To(Equal(wire.KindUnknownCallback), "call_go(%#v)", name)
			Expect(got.Message).To(ContainSubstring("is not a valid name: it must be a non-empty string"), "call_go(%#v)", name)
		}
		alive(ctx, py)
	}},
	{"settles a stream whose loop body panics: the generator's finally runs before the next call", func(ctx context.Context, py pyharness.Interpreter) {
		ctx = wire.WithSession(ctx, "contract-panic") // a pool's next call goes to the same worker
		taken := 0
		recovered := func() (p any) {
			defer func() { p = recover() }()
			for _, err := range streamer(py).Stream(ctx, "count", map[string]int{"n": 1000000}) {
				Expect(err).NotTo(HaveOccurred())
				if taken++; taken == 3 {
					panic("a failed assertion in the loop")
				}
			}
			return nil
		}()
		Expect(recovered).To(Equal("a failed assertion in the loop"))
		var closed []string
		Expect(py.Call(ctx, "were_closed", nil, &closed)).To(Succeed(), "the worker was not handed out mid-stream")
		Expect(closed).To(ContainElement("count"), "the generator was closed before the next call")
		alive(ctx, py)
	}},
}
