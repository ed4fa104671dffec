package fixture

import (
	"context"
	"testing"

	"github.com/pyharness/pyharness/gotest"
	"github.com/pyharness/pyharness/mockpy"
)

// TestNoLeaksCatchesACallInFlight returns while a goroutine of its own
// still waits for a call's answer: NoLeaks names the call.
func TestNoLeaksCatchesACallInFlight(t *testing.T) {
	gotest.NoLeaks(t)
	py := mockpy.New(mockpy.WithWorkerID("fixture-mock"))
	started := make(chan struct{})
	py.RouteToHandler("predict", func(ctx context.Context, _ mockpy.Call) (any, error) {
		close(started)
		select {}
	})
	go func() { _ = py.Call(context.Background(), "predict", nil, nil) }() // the call left in flight
	<-started
}

// TestMockCatchesACallInFlight returns while a call on its gotest.Mock is
// in flight: Mock's end-of-test check names it.
func TestMockCatchesACallInFlight(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel) // registered first, so it runs after Mock's check: the call ends then
	py := gotest.Mock(t, mockpy.WithWorkerID("fixture-mock"))
	started := make(chan struct{})
	py.RouteToHandler("predict", func(ctx context.Context, _ mockpy.Call) (any, error) {
		close(started)
		<-ctx.Done()
		return nil, mockpy.Cancelled(ctx.Err())
	})
	go func() { _ = py.Call(ctx, "predict", nil, nil) }() // the call on the mock left in flight
	<-started
}
