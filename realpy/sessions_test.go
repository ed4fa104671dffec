package realpy

import (
	"fmt"
	"runtime"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("The session table", func() {
	order := func(t *sessionTable) []string {
		var s []string
		for e := t.order.Back(); e != nil; e = e.Prev() {
			s = append(s, e.Value.(*route).session)
		}
		return s
	}

	It("holds at most its limit, dropping the least recently used route first", func() {
		t := newSessionTable(3)
		a, b := &member{}, &member{}
		now := time.Unix(0, 0)
		tick := func() time.Time { now = now.Add(time.Second); return now }
		t.put("s1", a, tick())
		t.put("s2", b, tick())
		t.put("s3", a, tick())
		r, ok := t.get("s1")
		Expect(ok).To(BeTrue())
		t.touch(r, tick()) // s1 used again: s2 is now the oldest
		t.put("s4", b, tick())
		Expect(t.len()).To(Equal(3))
		Expect(order(t)).To(Equal([]string{"s3", "s1", "s4"}), "oldest first")
		t.put("s5", a, tick())
		t.put("s6", a, tick())
		Expect(order(t)).To(Equal([]string{"s4", "s5", "s6"}))
		_, ok = t.get("s1")
		Expect(ok).To(BeFalse())

		t.put("s4", a, tick()) // an existing route moves, no eviction
		Expect(order(t)).To(Equal([]string{"s5", "s6", "s4"}))
		t.forget(a)
		Expect(t.len()).To(Equal(0))
	})

	It("expires routes idle for the TTL, keeping a busy worker's", func() {
		t := newSessionTable(10)
		idle, busy := &member{}, &member{calls: 1}
		start := time.Unix(0, 0)
		t.put("old-idle", idle, start)
		t.put("old-busy", busy, start.Add(time.Second))
		t.put("recent", idle, start.Add(time.Minute))
		t.expire(start.Add(time.Minute+2*time.Second), time.Minute)
		Expect(order(t)).To(Equal([]string{"old-busy", "recent"}))
	})

	It("keeps a DefaultMaxSessions table of routes in about 2 MiB", func() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		t := newSessionTable(DefaultMaxSessions)
		m := &member{}
		for i := range 5 * DefaultMaxSessions {
			t.put(fmt.Sprintf("session-%d", i), m, time.Unix(int64(i), 0))
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		Expect(t.len()).To(Equal(DefaultMaxSessions))
		Expect(after.HeapAlloc - min(after.HeapAlloc, before.HeapAlloc)).To(BeNumerically("<", 2<<20))
		runtime.KeepAlive(t)
	})
})

var _ = Describe("WithMaxSessions", func() {
	It("takes a positive number only", func(ctx SpecContext) {
		_, err := StartPool(ctx, WithMaxSessions(0))
		Expect(err).To(MatchError("realpy: option WithMaxSessions: given 0; it takes a positive number of sessions"))
	})
})
