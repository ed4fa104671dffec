package leak_test

import (
	"errors"
	"testing"

	"go.uber.org/goleak"

	"github.com/pyharness/pyharness/isolation/leak"
)

// blockedUntil is a goroutine a test leaves running until it closes stop.
func blockedUntil(stop chan struct{}) { <-stop }

func TestAGoroutineATestReportedIsNotReportedAgainAtTheEnd(t *testing.T) {
	suite := goleak.IgnoreCurrent()
	test, err := leak.Begin()
	if err != nil {
		t.Fatal(err)
	}
	reportedStop, laterStop := make(chan struct{}), make(chan struct{})
	defer close(laterStop)
	go blockedUntil(reportedStop)
	var r *leak.Report
	if err := test.Check("the test left running"); !errors.As(err, &r) || len(r.Goroutines()) != 1 {
		t.Fatalf("the test's check: want one goroutine, got %v", err)
	}
	if err := leak.AtEnd(suite).Check("left at the end"); err != nil {
		t.Fatalf("the end of the suite reported again what a test's check had: %v", err)
	}

	go blockedUntil(laterStop) // left after the test's check: the end reports it
	if err := leak.AtEnd(suite).Check("left at the end"); !errors.As(err, &r) || len(r.Goroutines()) != 1 {
		t.Fatalf("the end of the suite: want the goroutine no test reported, got %v", err)
	}
	close(reportedStop)
}
