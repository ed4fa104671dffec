//go:build !pyharness_fuzz

package wire_test

import (
	"context"
	"encoding/json"
	"math"
	"runtime"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/wire"
)

var _ = Describe("Callback answers (#22)", func() {
	run := func(ctx context.Context, name string, fn wire.Callback) wire.Return {
		registered := map[string]wire.Callback{}
		if fn != nil {
			registered[name] = fn
		}
		return wire.RunCallback(ctx, registered, &wire.CallbackFrame{Seq: 7, Name: name, Args: json.RawMessage("null")})
	}

	DescribeTable("a function that does not answer normally is answered with its kind",
		func(name string, fn wire.Callback, kind, typ, message string) {
			ret := run(context.Background(), name, fn)
			Expect(ret.OK).To(BeFalse())
			Expect(ret.Seq).To(Equal(uint64(7)))
			Expect(ret.Error.Kind).To(Equal(kind))
			Expect(ret.Error.Type).To(Equal(typ))
			Expect(ret.Error.Message).To(HavePrefix(message))
		},
		Entry("runtime.Goexit", "quits", wire.Callback(func(context.Context, json.RawMessage) (any, error) { runtime.Goexit(); return nil, nil }),
			wire.KindGoexit, wire.GoExitType, `Go function "quits" called runtime.Goexit`),
		Entry("a panic", "panicky", wire.Callback(func(context.Context, json.RawMessage) (any, error) { panic("boom") }),
			wire.KindPanic, wire.GoPanicType, `Go function "panicky" panicked: boom`),
		Entry("NaN", "nan", wire.Callback(func(context.Context, json.RawMessage) (any, error) { return math.NaN(), nil }),
			wire.KindUnencodable, wire.GoErrorType, `the result of Go function "nan" cannot cross to Python`),
		Entry("an empty name", "", nil, wire.KindUnknownCallback, wire.UnknownCallback, `callback name "" is not a valid name`),
		Entry("an unknown name", "nobody", nil, wire.KindUnknownCallback, wire.UnknownCallback, `no Go function "nobody" is registered`),
	)

	It("answers Cancelled when the call's context ends before the function", func() {
		release := make(chan struct{})
		defer close(release)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		ret := run(ctx, "block", func(context.Context, json.RawMessage) (any, error) { <-release; return nil, nil })
		Expect(ret.Error.Kind).To(Equal(wire.KindCancelled))
		Expect(ret.Error.Message).To(ContainSubstring(`while Go function "block" ran`))
	})

	It("decodes a callback frame with an empty name, to be answered UnknownCallback, not dropped as a protocol violation", func() {
		resp, err := wire.DecodeResponse([]byte(`{"id":2,"callback":{"seq":1,"name":"","args":null}}`))
		Expect(err).NotTo(HaveOccurred())
		Expect(resp.Callback.Name).To(BeEmpty())
		_, err = wire.DecodeResponse([]byte(`{"id":2,"callback":{"name":"x"}}`))
		Expect(err).To(MatchError(ContainSubstring(`callback has no "seq"`)))
	})
})
