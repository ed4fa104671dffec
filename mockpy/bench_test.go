package mockpy_test

import (
	"context"
	"testing"

	"github.com/pyharness/pyharness/mockpy"
)

// BenchmarkCall is one mock call: args through JSON, a routed handler, the
// result through JSON, decoded into a typed reply.
func BenchmarkCall(b *testing.B) {
	py := mockpy.New()
	py.RouteToHandler("predict", mockpy.Respond(map[string]any{"label": "positive", "score": 0.93}))
	ctx := context.Background()
	args := map[string]string{"text": "great"}
	var reply struct {
		Label string
		Score float64
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := py.Call(ctx, "predict", args, &reply); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPing is the built-in ping into a nil reply.
func BenchmarkPing(b *testing.B) {
	py := mockpy.New()
	ctx := context.Background()
	for b.Loop() {
		if err := py.Call(ctx, "echo", 1, nil); err != nil {
			b.Fatal(err)
		}
	}
}
