package contract

import (
	"context"
	"encoding/json"
	"iter"

	. "github.com/onsi/ginkgo/v2"

	"github.com/pyharness/pyharness"
	"github.com/pyharness/pyharness/cassette"
	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/harness/contract"
	"github.com/pyharness/pyharness/mockpy"
	"github.com/pyharness/pyharness/wire"
)

// replayed is an interpreter whose every call is recorded on the contract's
// mock and answered by a replay of that recording: the answers the spec
// sees are replayed ones, held to the behaviours of the mock they came
// from. Streams pass through the recorder (recorded, answered live).
type replayed struct {
	mock *mockpy.Interpreter
	rec  *cassette.Recorder
}

func (r *replayed) Call(ctx context.Context, method string, args, reply any) error {
	one := cassette.NewRecorder(r.mock)
	var raw json.RawMessage
	if err := one.Call(ctx, method, args, &raw); err != nil && len(one.Cassette().Interactions) == 0 {
		return err // refused before it was sent (args that cannot cross): nothing to replay
	}
	replay := mockpy.New(mockpy.WithFailHandler(Fail), mockpy.WithoutBuiltins()).ReplayCassette(one.Cassette())
	defer replay.Close()
	// Go's answers come from the recording: the recorded call into Go ran
	// the spec's function once already.
	in := one.Cassette().Interactions[0]
	if len(in.CallGo) > 0 {
		fns := map[string]wire.Callback{}
		next := 0
		for _, g := range in.CallGo {
			fns[g.Name] = func(context.Context, json.RawMessage) (any, error) {
				g := in.CallGo[next]
				next++
				if g.Error != nil {
					return nil, g.Error.Err()
				}
				return g.Result, nil
			}
		}
		ctx = wire.WithCallbacks(ctx, fns)
	}
	return replay.Call(ctx, method, args, reply)
}

func (r *replayed) Stream(ctx context.Context, method string, args any) iter.Seq2[json.RawMessage, error] {
	return r.rec.Stream(ctx, method, args)
}

func (r *replayed) Close() error { return r.mock.Close() }

var _ = describe("The interpreter contract on replayed answers", func() {
	Describe("recorded on the mock, each call answered by a replay of its recording", harness.PythonMock, func() {
		contract.Register(func(ctx context.Context) pyharness.Interpreter {
			mock := newMock()
			return &replayed{mock: mock, rec: cassette.NewRecorder(mock)}
		})
	})
})
