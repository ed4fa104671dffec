package mockpy_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	"github.com/onsi/ginkgo/v2/types"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/mockpy"
	"github.com/pyharness/pyharness/wire"
)

// markedLine is "failures_test.go:N" for this file's line marked "// line: name".
func markedLine(name string) string {
	GinkgoHelper()
	src, err := os.ReadFile("failures_test.go")
	Expect(err).NotTo(HaveOccurred())
	for i, line := range strings.Split(string(src), "\n") {
		if strings.HasSuffix(line, "// line: "+name) {
			return fmt.Sprintf("failures_test.go:%d", i+1)
		}
	}
	Fail("no line marked " + name)
	return ""
}

var _ = Describe("Numbers in args, as a Python handler reads them", func() {
	var (
		py  *mockpy.Interpreter
		ctx = context.Background()
	)
	BeforeEach(func() {
		py = mockpy.New()
		py.RouteToHandler("score", mockpy.Respond(nil))
	})

	It("decodes an integer as an int, which Equal(3) and BeNumerically read as 3", func() {
		Expect(py.Call(ctx, "score", map[string]any{"n": 3, "f": 2.5, "whole": 3.0}, nil)).To(Succeed())
		args := py.CallsTo("score")[0].Value()
		Expect(args).To(HaveKeyWithValue("n", 3))
		Expect(args).To(HaveKeyWithValue("n", BeNumerically("==", 3)))
		Expect(args).To(HaveKeyWithValue("f", 2.5))
		Expect(args).To(HaveKeyWithValue("whole", 3), "Go's 3.0 goes on the wire as 3: Python reads an int")
		Expect(py).To(mockpy.HaveReceived("score", mockpy.WithArgs(HaveKeyWithValue("n", BeNumerically(">", 2)))))
		Expect(py).To(mockpy.HaveReceived("score", mockpy.WithArgs(HaveKeyWithValue("n", 3))))
	})

	It("decodes a fraction or an exponent as a float64, and an integer beyond int as a *big.Int, every digit kept", func() {
		Expect(py.Call(ctx, "score", json.RawMessage(`{"half": 0.5, "exp": 1e3, "float": 3.0, "big": 1180591620717411303424, "neg": -9223372036854775808}`), nil)).To(Succeed())
		args := py.CallsTo("score")[0].Value()
		Expect(args).To(HaveKeyWithValue("half", 0.5))
		Expect(args).To(HaveKeyWithValue("exp", 1000.0))
		Expect(args).To(HaveKeyWithValue("float", 3.0), "3.0 is a float in Python too")
		want, _ := new(big.Int).SetString("1180591620717411303424", 10)
		Expect(args).To(HaveKeyWithValue("big", want))
		Expect(args).To(HaveKeyWithValue("neg", -9223372036854775808))
	})

	It("decodes nested values and interface fields of a struct the same way; typed fields as they are", func() {
		Expect(py.Call(ctx, "score", map[string]any{"xs": []any{1, map[string]any{"y": 2}}, "n": 4}, nil)).To(Succeed())
		var into struct {
			Xs []any
			N  any
		}
		Expect(py.CallsTo("score")[0].Decode(&into)).To(Succeed())
		Expect(into.Xs).To(Equal([]any{1, map[string]any{"y": 2}}))
		Expect(into.N).To(Equal(4))
		var typed struct{ N float64 }
		Expect(py.CallsTo("score")[0].Decode(&typed)).To(Succeed())
		Expect(typed.N).To(Equal(4.0))
	})
})

var _ = Describe("Mock failures that read at the spec's line", func() {
	ctx := context.Background()

	// ginkgoLike records where ginkgo.Fail would place a failure: it
	// computes the location exactly as Fail does from its callerSkip.
	type failure struct {
		message  string
		location types.CodeLocation
	}
	ginkgoLike := func(into *[]failure) func(string, ...int) {
		return func(message string, callerSkip ...int) {
			skip := 0
			if len(callerSkip) > 0 {
				skip = callerSkip[0]
			}
			*into = append(*into, failure{message, types.NewCodeLocation(skip + 1)})
		}
	}

	It("places an unhandled call at the spec's line, naming the call and why nothing took it", func() {
		var failures []failure
		py := mockpy.New(mockpy.WithoutBuiltins(), mockpy.WithFailHandler(ginkgoLike(&failures)))
		py.AppendHandlers(mockpy.Respond("ok"))
		Expect(py.Call(ctx, "tag", map[string]any{"text": "a"}, nil)).To(Succeed())
		err := py.Call(ctx, "tag", map[string]any{"text": "b"}, nil) // line: unhandled
		Expect(err).To(MatchError(wire.ErrUnknownMethod))
		Expect(failures).To(HaveLen(1))
		Expect(failures[0].message).To(Equal(`mockpy: unhandled call tag({"text":"b"}) at ` + markedLine("unhandled") +
			`: no route for "tag", all 1 appended handler(s) already used, built-ins off`))
		Expect(filepath.Base(failures[0].location.FileName) + fmt.Sprintf(":%d", failures[0].location.LineNumber)).To(Equal(markedLine("unhandled")))
	})

	It("names the routes there are when a call finds none, so a misspelt method shows", func() {
		var failures []failure
		py := mockpy.New(mockpy.WithFailHandler(ginkgoLike(&failures)))
		py.RouteToHandler("keyword", mockpy.Respond("ok")).RouteToHandler("classify", mockpy.Respond("ok"))
		_ = py.Call(ctx, "keywords", nil, nil)
		Expect(failures).To(HaveLen(1))
		Expect(failures[0].message).To(ContainSubstring(`: no route for "keywords" (routes: classify, keyword), no handler appended, no built-in of that name`))
	})

	It("places a refused call (VerifyArgs) at the spec's line", func() {
		var failures []failure
		py := mockpy.New(mockpy.WithFailHandler(ginkgoLike(&failures)))
		py.AppendHandlers(mockpy.CombineHandlers(mockpy.VerifyArgs(map[string]string{"text": "hi"}), mockpy.Respond("ok")))
		_ = py.Call(ctx, "tag", map[string]string{"text": "bye"}, nil) // line: refused
		Expect(failures).To(HaveLen(1))
		Expect(filepath.Base(failures[0].location.FileName) + fmt.Sprintf(":%d", failures[0].location.LineNumber)).To(Equal(markedLine("refused")))
	})

	It("says how many handlers were appended and used, where the unused ones were appended, and the calls that came", func() {
		py := mockpy.New()
		py.AppendHandlers(mockpy.Respond(1), mockpy.Respond(2))                     // line: append
		py.AppendHandlers(mockpy.Respond(3))                                        // line: append-more
		Expect(py.Call(ctx, "tag", map[string]any{"text": "x"}, nil)).To(Succeed()) // line: call
		err := py.VerifyConsumed()
		var unused *mockpy.UnusedHandlersError
		Expect(errors.As(err, &unused)).To(BeTrue())
		Expect(unused.Appended).To(Equal(3))
		Expect(unused.Used).To(Equal(1))
		Expect(err.Error()).To(Equal("mockpy: appended handlers never used: 3 appended, 1 used\n" +
			"    unused: handler 2, appended at " + markedLine("append") + "\n" +
			"    unused: handler 3, appended at " + markedLine("append-more") + "\n" +
			"calls received (1), in order:\n" +
			`    tag({"text":"x"}) -> appended handler 1 (appended at ` + markedLine("append") + "), called at " + markedLine("call")))

		failures := InterceptGomegaFailures(func() { Expect(py).To(mockpy.HaveConsumedAllHandlers()) })
		Expect(failures).To(ConsistOf(ContainSubstring(err.Error())))
	})

	It("passes unused handlers under WithUnusedHandlersAllowed, and when every handler was used", func() {
		lenient := mockpy.New(mockpy.WithUnusedHandlersAllowed())
		lenient.AppendHandlers(mockpy.Respond(1))
		Expect(lenient.VerifyConsumed()).To(Succeed())
		Expect(lenient).NotTo(mockpy.HaveConsumedAllHandlers(), "the matcher asks regardless")

		strict := mockpy.New()
		strict.AppendHandlers(mockpy.Respond(1))
		Expect(strict.Call(ctx, "tag", nil, nil)).To(Succeed())
		Expect(strict.VerifyConsumed()).To(Succeed())
	})

	It("describes an unmet args matcher in the matcher's own words, per call received", func() {
		py := mockpy.New()
		py.RouteToHandler("tag", mockpy.Respond("ok"))
		Expect(py.Call(ctx, "tag", map[string]any{"text": "y"}, nil)).To(Succeed())
		Expect(py.Call(ctx, "echo", 1, nil)).To(Succeed())
		failures := InterceptGomegaFailures(func() {
			Expect(py).To(mockpy.HaveReceived("tag", mockpy.WithArgs(HaveKeyWithValue("text", "x"))))
		})
		Expect(failures).To(HaveLen(1))
		msg := failures[0]
		Expect(msg).NotTo(ContainSubstring("<args>"))
		Expect(msg).To(ContainSubstring(`a call of "tag" with args that satisfy` + "\n    HaveKeyWithValue: to have {key: value}\n"))
		Expect(msg).To(ContainSubstring(`<string>"text": <string>"x"`))
		Expect(msg).To(ContainSubstring(`tag({"text":"y"}): its args did not satisfy the matcher:`))
		Expect(msg).To(ContainSubstring("calls received (2), in order:\n    tag({\"text\":\"y\"}) -> route, called at failures_test.go:"))
		Expect(msg).To(ContainSubstring("    echo(1) -> built-in, called at failures_test.go:"))
	})
})

var _ = Describe("Gomega's view of the mock", func() {
	It("prints calls as calls, not as bytes, and the mock by its calls", func() {
		py := mockpy.New(mockpy.WithWorkerID("w1"))
		Expect(py.Call(context.Background(), "echo", map[string]any{"text": "x"}, nil)).To(Succeed()) // line: echo
		failures := InterceptGomegaFailures(func() { Expect(py.Calls()).To(BeEmpty()) })
		Expect(failures).To(ConsistOf(ContainSubstring(`echo({"text":"x"}) -> built-in at ` + markedLine("echo"))))
		Expect(failures[0]).NotTo(ContainSubstring("Args:"))
		failures = InterceptGomegaFailures(func() { Expect(py).To(BeNil()) })
		Expect(failures).To(ConsistOf(ContainSubstring("mock interpreter \"w1\"; calls received (1), in order:\n")))
		Expect(failures[0]).NotTo(ContainSubstring("sequence:"))
	})
})
