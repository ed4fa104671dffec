package realpy

import (
	"errors"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"

	"github.com/pyharness/pyharness/wire"
)

// Unit specs of realpy's parts that need no Python; the integration suites
// under suites/ drive real interpreters.
func TestRealpy(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Realpy Suite")
}

var _ = Describe("breaker", func() {
	var (
		clock *clockwork.FakeClock
		b     *breaker
		crash = &wire.WorkerExitedError{Code: 1}
	)
	BeforeEach(func() {
		clock = clockwork.NewFakeClock()
		b = newBreaker(BreakerSettings{Failures: 3, OpenFor: 10 * time.Second}, clock)
	})

	fail := func() {
		trial, err := b.allow()
		Expect(err).NotTo(HaveOccurred())
		b.record(trial, crash)
	}

	It("opens after consecutive infrastructure failures only", func() {
		fail()
		fail()
		b.record(false, nil) // a success resets the count
		fail()
		fail()
		Expect(b.current()).To(Equal(BreakerClosed))
		fail()
		Expect(b.current()).To(Equal(BreakerOpen))
		_, err := b.allow()
		Expect(err).To(MatchError(ErrBreakerOpen))
	})

	It("does not count Python exceptions", func() {
		for range 10 {
			trial, err := b.allow()
			Expect(err).NotTo(HaveOccurred())
			b.record(trial, &wire.PythonError{Kind: wire.KindException, Type: "ValueError"})
		}
		Expect(b.current()).To(Equal(BreakerClosed))
	})

	It("half-opens after OpenFor, lets one trial through, and closes or reopens on its result", func() {
		for range 3 {
			fail()
		}
		clock.Advance(9 * time.Second)
		Expect(b.current()).To(Equal(BreakerOpen))
		clock.Advance(time.Second)
		Expect(b.current()).To(Equal(BreakerHalfOpen))

		trial, err := b.allow()
		Expect(err).NotTo(HaveOccurred())
		Expect(trial).To(BeTrue())
		_, err = b.allow()
		Expect(err).To(MatchError(ErrBreakerOpen), "one trial at a time")
		b.record(trial, crash)
		Expect(b.current()).To(Equal(BreakerOpen), "a failed trial reopens")

		clock.Advance(10 * time.Second)
		trial, err = b.allow()
		Expect(err).NotTo(HaveOccurred())
		b.record(trial, nil)
		Expect(b.current()).To(Equal(BreakerClosed))
	})

	It("classifies failures", func() {
		Expect(infrastructureFailure(crash)).To(BeTrue())
		Expect(infrastructureFailure(&wire.ProtocolError{})).To(BeTrue())
		Expect(infrastructureFailure(&wire.PythonError{Kind: wire.KindException})).To(BeFalse())
		Expect(infrastructureFailure(&CheckoutTimeoutError{})).To(BeFalse())
		Expect(infrastructureFailure(errors.New("other"))).To(BeFalse())
	})
})

var _ = Describe("event subscriptions", func() {
	It("deliver in order without blocking the publisher, and end when the bus closes", func() {
		b := newBus()
		s := b.subscribe()
		for i := range 1000 { // nobody reads yet: publishing must not block
			b.publish(Event{Kind: EventStarted, Pid: i})
		}
		b.closeAll()
		i := 0
		for e := range s.C {
			Expect(e.Pid).To(Equal(i))
			i++
		}
		Expect(i).To(Equal(1000))
	})

	It("stop at Close, dropping what is queued", func() {
		b := newBus()
		s := b.subscribe()
		b.publish(Event{Kind: EventReady})
		s.Close()
		s.Close()
		Eventually(s.C).Should(BeClosed())
	})
})

var _ = Describe("output helpers", func() {
	It("prefixes every line, across writes", func() {
		out := gbytes.NewBuffer()
		w := prefixed(out, "[w1] ")
		_, _ = w.Write([]byte("a\nb"))
		_, _ = w.Write([]byte("c\n"))
		Expect(string(out.Contents())).To(Equal("[w1] a\n[w1] bc\n"))
	})

	It("keeps the last lines of stderr", func() {
		Expect(tail([]byte("1\n2\n3\n"), 2)).To(Equal([]string{"2", "3"}))
		Expect(tail(nil, 2)).To(BeEmpty())
	})
})
