package bench

import (
	"context"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/internal/benchkit"
	"github.com/pyharness/pyharness/internal/realpyx"
)

var _ = describe("the reference subjects on real Python", harness.Integration, harness.PythonReal, func() {
	var python string
	BeforeEach(func() {
		var err error
		python, err = realpyx.FindPython(context.Background(), "")
		Expect(err).NotTo(HaveOccurred())
	})

	for _, name := range []string{benchkit.SubjectNDJSON, benchkit.SubjectFloor} {
		It("echoes "+name+"'s values back unchanged, shared by callers, and ends its processes on Close", func(ctx SpecContext) {
			s := benchkit.NDJSONSubject(python)
			if name == benchkit.SubjectFloor {
				s = benchkit.FloorSubject(python)
			}
			Expect(s.Name).To(Equal(name))
			c, err := s.Start(ctx, 2)
			Expect(err).NotTo(HaveOccurred())
			for _, v := range []string{benchkit.TinyPayload, "", "ünïcødé \"quoted\"\n", strings.Repeat("x", benchkit.BigPayloadSize)} {
				back, err := c.Echo(ctx, v)
				Expect(err).NotTo(HaveOccurred())
				Expect(back == v).To(BeTrue(), "%d bytes back for %d", len(back), len(v))
			}
			done := make(chan error, 8)
			for range 8 {
				go func() {
					back, err := c.Echo(ctx, "shared")
					if err == nil && back != "shared" {
						err = errFor(back)
					}
					done <- err
				}()
			}
			for range 8 {
				Expect(<-done).To(Succeed())
			}
			Expect(c.Close()).To(Succeed()) // both loops end at EOF with status 0
		})
	}

	It("reports the NDJSON loop's error for a method it lacks, and goes on serving", func(ctx SpecContext) {
		p, err := benchkit.StartNDJSON(python)
		Expect(err).NotTo(HaveOccurred())
		defer p.Close()
		var back string
		Expect(p.Call("nope", 1, &back)).To(MatchError(`ndjson: KeyError('nope')`))
		Expect(p.Call("echo", "still there", &back)).To(Succeed())
		Expect(back).To(Equal("still there"))
	})
})

type errFor string

func (e errFor) Error() string { return "echoed " + string(e) }
