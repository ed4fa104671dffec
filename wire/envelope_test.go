//go:build !pyharness_fuzz

package wire_test

import (
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/wire"
)

var _ = Describe("Envelopes", func() {
	It("encodes a request with null args when none are given", func() {
		b, err := wire.EncodeRequest(wire.Request{ID: 3, Method: "ping"})
		Expect(err).NotTo(HaveOccurred())
		Expect(string(b)).To(Equal(`{"id":3,"method":"ping","args":null}`))

		b, err = wire.EncodeRequest(wire.Request{ID: 4, Method: "m", Args: json.RawMessage(`[1]`), Session: "s", DeadlineMS: 9})
		Expect(err).NotTo(HaveOccurred())
		Expect(wire.DecodeRequest(b)).To(Equal(&wire.Request{ID: 4, Method: "m", Args: json.RawMessage(`[1]`), Session: "s", DeadlineMS: 9}))
	})

	It("encodes methods and sessions that need escaping", func() {
		req := wire.Request{ID: 1, Method: "pr\"ed<ict>\u00e9\n", Session: "s\\1 😀", Args: json.RawMessage(`{}`)}
		b, err := wire.EncodeRequest(req)
		Expect(err).NotTo(HaveOccurred())
		Expect(json.Valid(b)).To(BeTrue(), string(b))
		Expect(wire.DecodeRequest(b)).To(Equal(&req))
	})

	It("decodes successful and failed responses", func() {
		ok, err := wire.DecodeResponse([]byte(`{"id":1,"ok":true,"result":null}`))
		Expect(err).NotTo(HaveOccurred())
		Expect(ok).To(Equal(&wire.Response{ID: 1, OK: true, Result: json.RawMessage("null")}))

		failed, err := wire.DecodeResponse([]byte(`{"id":2,"ok":false,"error":{"kind":"exception","type":"KeyError","message":"'k'","traceback":"Traceback..."}}`))
		Expect(err).NotTo(HaveOccurred())
		Expect(failed.Error).To(Equal(&wire.ErrorObject{Kind: "exception", Type: "KeyError", Message: "'k'", Traceback: "Traceback..."}))
	})

	DescribeTable("decodes the canonical form and the general form alike",
		func(payload string, want *wire.Response) {
			Expect(wire.DecodeResponse([]byte(payload))).To(Equal(want))
		},
		Entry("canonical", `{"id":12,"ok":true,"result":{"a":[1,2]}}`, &wire.Response{ID: 12, OK: true, Result: json.RawMessage(`{"a":[1,2]}`)}),
		Entry("spaces", `{"id": 12, "ok": true, "result": 5}`, &wire.Response{ID: 12, OK: true, Result: json.RawMessage(`5`)}),
		Entry("other order", `{"ok":true,"result":null,"id":3}`, &wire.Response{ID: 3, OK: true, Result: json.RawMessage(`null`)}),
		Entry("max id", `{"id":18446744073709551615,"ok":true,"result":0}`, &wire.Response{ID: 18446744073709551615, OK: true, Result: json.RawMessage(`0`)}),
	)

	DescribeTable("rejects malformed responses with a protocol error",
		func(payload string) {
			_, err := wire.DecodeResponse([]byte(payload))
			Expect(err).To(MatchError(wire.ErrProtocol))
		},
		Entry("not JSON", `{nope`),
		Entry("not an object", `[1,2]`),
		Entry("no id", `{"ok":true,"result":1}`),
		Entry("negative id", `{"id":-1,"ok":true,"result":1}`),
		Entry("string id", `{"id":"1","ok":true,"result":1}`),
		Entry("no ok", `{"id":1,"result":1}`),
		Entry("ok without result", `{"id":1,"ok":true}`),
		Entry("failure without error", `{"id":1,"ok":false}`),
		Entry("error without type", `{"id":1,"ok":false,"error":{"kind":"exception","message":"m"}}`),
		Entry("trailing data", `{"id":1,"ok":true,"result":1} {}`),
		Entry("canonical prefix, bad result", `{"id":1,"ok":true,"result":{]}`),
		Entry("canonical prefix, trailing member", `{"id":1,"ok":true,"result":1,"x":}`),
		Entry("id with a leading zero", `{"id":01,"ok":true,"result":1}`),
		Entry("id beyond uint64", `{"id":18446744073709551616,"ok":true,"result":1}`),
	)

	It("keeps integers beyond 2^53 exact in both directions", func() {
		huge := uint64(1)<<53 + 1
		raw, err := wire.Marshal(map[string]any{"u": huge, "i": int64(math.MinInt64)})
		Expect(err).NotTo(HaveOccurred())
		Expect(string(raw)).To(ContainSubstring("9007199254740993"))

		var generic map[string]any
		Expect(wire.Unmarshal(raw, &generic)).To(Succeed())
		Expect(generic["u"]).To(Equal(json.Number("9007199254740993")))
		Expect(generic["i"]).To(Equal(json.Number("-9223372036854775808")))

		var typed struct{ U uint64 }
		Expect(wire.Unmarshal(raw, &typed)).To(Succeed())
		Expect(typed.U).To(Equal(huge))

		beyond, _ := new(big.Int).SetString("123456789012345678901234567890", 10)
		raw, err = wire.Marshal(beyond)
		Expect(err).NotTo(HaveOccurred())
		back := new(big.Int)
		Expect(wire.Unmarshal(raw, back)).To(Succeed())
		Expect(back.Cmp(beyond)).To(BeZero())
	})

	It("types values JSON cannot carry as unserialisable", func() {
		for _, bad := range []any{make(chan int), func() {}, math.NaN(), math.Inf(1)} {
			_, err := wire.Marshal(bad)
			Expect(err).To(MatchError(wire.ErrUnserializable))
			Expect(err).To(BeAssignableToTypeOf(&wire.EncodeError{}))
		}
	})

	It("reports a reply of the wrong shape as a decode error", func() {
		var n int
		err := wire.Unmarshal([]byte(`"text"`), &n)
		Expect(err).To(BeAssignableToTypeOf(&wire.DecodeError{}))
	})
})

var _ = Describe("Typed errors", func() {
	It("matches Python error kinds to their sentinels", func() {
		Expect(&wire.PythonError{Kind: wire.KindUnknownMethod}).To(MatchError(wire.ErrUnknownMethod))
		Expect(&wire.PythonError{Kind: wire.KindUnserializable}).To(MatchError(wire.ErrUnserializable))
		Expect(&wire.PythonError{Kind: wire.KindTooLarge}).To(MatchError(wire.ErrFrameTooLarge))
		exc := &wire.PythonError{Kind: wire.KindException, Type: "ValueError", Message: "bad"}
		Expect(exc).NotTo(MatchError(wire.ErrUnknownMethod))
		Expect(exc.Error()).To(Equal("python ValueError: bad"))
	})

	It("describes a worker exit with its signal and stderr tail", func() {
		err := &wire.WorkerExitedError{WorkerID: "w1", Pid: 42, Code: 137, Signal: 9, Stderr: []string{"a", "b"}}
		Expect(err).To(MatchError(wire.ErrWorkerExited))
		Expect(err.Error()).To(And(ContainSubstring("worker w1 (pid 42) was killed by signal 9"), ContainSubstring("a\n    b")))
	})

	It("keeps sessions on the context", func() {
		ctx := wire.WithSession(GinkgoT().Context(), "s-1")
		Expect(wire.SessionFrom(ctx)).To(Equal("s-1"))
		Expect(wire.SessionFrom(GinkgoT().Context())).To(BeEmpty())
	})
})

var _ = Describe("Peeking at a response (the result scanned once, when decoded)", func() {
	decode := func(payload string, v any) error {
		GinkgoHelper()
		resp, err := wire.PeekResponse([]byte(payload))
		if err != nil {
			return err
		}
		return resp.DecodeResult(v)
	}

	It("decodes a canonical reply as DecodeResponse would", func() {
		var s string
		Expect(decode(`{"id":3,"ok":true,"result":"hi"}`, &s)).To(Succeed())
		Expect(s).To(Equal("hi"))
		var v any
		Expect(decode(`{"id":3,"ok":true,"result":{"n":12345678901234567890}}`, &v)).To(Succeed())
		Expect(v).To(HaveKeyWithValue("n", json.Number("12345678901234567890")))
	})

	It("ignores unknown members after the result, as the general decoder does", func() {
		var n int
		Expect(decode(`{"id":3,"ok":true,"result":7,"extra":[1,2]}`, &n)).To(Succeed())
		Expect(n).To(Equal(7))
		var v any
		Expect(decode(`{"id":3,"ok":true,"result":7,"extra":[1,2]}`, &v)).To(Succeed())
		Expect(v).To(Equal(json.Number("7")))
	})

	It("reports a malformed payload as a protocol violation, whatever it is decoded into", func() {
		for _, payload := range []string{`{"id":3,"ok":true,"result":"unterminated}`, `{"id":3,"ok":true,"result":7 8}`} {
			var s string
			Expect(decode(payload, &s)).To(MatchError(wire.ErrProtocol), payload)
			var v any
			Expect(decode(payload, &v)).To(MatchError(wire.ErrProtocol), payload)
			Expect(decode(payload, nil)).To(MatchError(wire.ErrProtocol), payload)
			resp, err := wire.PeekResponse([]byte(payload))
			Expect(err).NotTo(HaveOccurred())
			Expect(resp.Check()).To(MatchError(wire.ErrProtocol))
		}
	})
})

var _ = Describe("Unmarshal into a string", func() {
	DescribeTable("gives what encoding/json gives, whether or not the text takes the one-pass path",
		func(data string) {
			var want, got string
			wantErr := json.Unmarshal([]byte(data), &want)
			err := wire.Unmarshal([]byte(data), &got)
			if wantErr != nil {
				var decodeErr *wire.DecodeError
				Expect(errors.As(err, &decodeErr)).To(BeTrue(), "got %v", err)
				return
			}
			Expect(err).NotTo(HaveOccurred())
			Expect(got).To(Equal(want))
		},
		Entry("plain ASCII", `"hello"`),
		Entry("empty", `""`),
		Entry("multi-byte UTF-8", `"héllo, 世界 🙂"`),
		Entry("JSON whitespace around it", " \t\r\n\"padded\"\n "),
		Entry("an escape", `"a\nb \u00e9 \"q\""`),
		Entry("invalid UTF-8, replaced by U+FFFD", "\"bad \xff byte\""),
		Entry("a raw control character (invalid JSON)", "\"tab\there\""),
		Entry("an unescaped quote inside (invalid JSON)", `"a"b"`),
		Entry("a non-JSON space around it (invalid JSON)", "\u00a0\"x\""),
		Entry("a number", `42`),
		Entry("null leaves the string alone", `null`),
	)
})

var _ = Describe("Marshal of a large string", func() {
	big := strings.Repeat("x", 2048)
	DescribeTable("gives what encoding/json gives, whether or not the text takes the one-pass path",
		func(s string) {
			want, err := json.Marshal(s)
			Expect(err).NotTo(HaveOccurred())
			got, err := wire.Marshal(s)
			Expect(err).NotTo(HaveOccurred())
			Expect(string(got)).To(Equal(string(want)))
		},
		Entry("plain ASCII", big),
		Entry("multi-byte UTF-8", big+"héllo, 世界 🙂"),
		Entry("a control character", big+"\n"),
		Entry("a quote", big+`"`),
		Entry("a backslash", big+`\`),
		Entry("HTML characters", big+"<a href='x'>&</a>"),
		Entry("U+2028 and U+2029", big+"\u2028\u2029"),
		Entry("DEL", big+"\x7f"),
	)
})
