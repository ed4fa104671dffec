//go:build !pyharness_fuzz

package wire_test

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/wire"
)

// payloadOf strips a frame's length prefix, checking it.
func payloadOf(frame []byte) []byte {
	ExpectWithOffset(1, binary.BigEndian.Uint32(frame)).To(Equal(uint32(len(frame) - wire.HeaderSize)))
	return frame[wire.HeaderSize:]
}

var _ = Describe("Segmented frames", func() {
	big := strings.Repeat("x", wire.SegmentMin)

	It("leaves a frame with no large value byte for byte a plain one", func() {
		req := wire.Request{ID: 7, Method: "echo", Session: "s"}
		for _, args := range []any{nil, 1, "small", []byte("small"), map[string]any{"a": strings.Repeat("y", wire.SegmentMin-1)}, []any{"z"}} {
			plain, err := wire.AppendRequestArgs(nil, req, args)
			Expect(err).NotTo(HaveOccurred())
			frame, err := wire.AppendRequestFrame(nil, req, args, wire.SegmentMin)
			Expect(err).NotTo(HaveOccurred())
			Expect(payloadOf(frame)).To(Equal(plain))
		}
		frame, err := wire.AppendRequestFrame(nil, req, big, 0) // a peer that does not read segments
		Expect(err).NotTo(HaveOccurred())
		Expect(payloadOf(frame)[0]).To(Equal(byte('{')))
	})

	It("carries a large string as one raw segment, and means exactly the plain request", func() {
		req := wire.Request{ID: 3, Method: "echo"}
		text := big + "\"quoted\"\n\u2028 ✓"
		frame, err := wire.AppendRequestFrame(nil, req, text, wire.SegmentMin)
		Expect(err).NotTo(HaveOccurred())
		payload := payloadOf(frame)
		env := `{"id":3,"method":"echo","args":"\udbff0"}`
		Expect(payload).To(Equal(segmented(env, "s", text)), "the text as it is: no escape")
		got, err := wire.DecodeRequest(payload)
		Expect(err).NotTo(HaveOccurred())
		var back string
		Expect(wire.Unmarshal(got.Args, &back)).To(Succeed())
		Expect(back).To(Equal(text))
		plain, _ := wire.AppendRequestArgs(nil, req, text)
		Expect(wire.Resolve(payload)).To(Equal(plain))
	})

	It("carries []byte as a bytes segment standing for its base64 text", func() {
		blob := bytes.Repeat([]byte{0, 0xff, '"', '\\'}, wire.SegmentMin/4)
		frame, err := wire.AppendRequestFrame(nil, wire.Request{ID: 1, Method: "echo"}, blob, wire.SegmentMin)
		Expect(err).NotTo(HaveOccurred())
		Expect(payloadOf(frame)).To(Equal(segmented(`{"id":1,"method":"echo","args":"\udbff0"}`, "b", string(blob))))
		got, err := wire.DecodeRequest(payloadOf(frame))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(got.Args)).To(Equal(`"` + base64.StdEncoding.EncodeToString(blob) + `"`))
	})

	It("segments large values nested in maps and lists, in encoding/json's order", func() {
		args := map[string]any{"b": []any{1, big}, "a": "small", "c": map[string]string{"k": big}, "d": []string{big}}
		frame, err := wire.AppendRequestFrame(nil, wire.Request{ID: 2, Method: "m"}, args, wire.SegmentMin)
		Expect(err).NotTo(HaveOccurred())
		env := `{"id":2,"method":"m","args":{"a":"small","b":[1,"\udbff0"],"c":{"k":"\udbff1"},"d":["\udbff2"]}}`
		Expect(payloadOf(frame)).To(Equal(segmented(env, "sss", big, big, big)))
		plain, _ := wire.AppendRequestArgs(nil, wire.Request{ID: 2, Method: "m"}, args)
		Expect(wire.Resolve(payloadOf(frame))).To(Equal(plain))
	})

	It("refuses a large string that is not UTF-8 with the plain path's typed error", func() {
		_, err := wire.AppendRequestFrame(nil, wire.Request{ID: 1, Method: "echo"}, map[string]any{"t": big + "\xff"}, wire.SegmentMin)
		var bad *wire.InvalidUTF8Error
		Expect(errors.As(err, &bad)).To(BeTrue(), "got %v", err)
		Expect(bad.Where).To(Equal(`value["t"]`))
		Expect(err).To(MatchError(wire.ErrUnserializable))
	})

	It("decodes a segmented reply whose result is one segment into a string, []byte, an interface or a struct", func() {
		payload := segmented(`{"id":9,"ok":true,"result":"\udbff0"}`, "s", big)
		for _, decode := range []func([]byte) (*wire.Response, error){wire.DecodeResponse, wire.PeekResponse} {
			resp, err := decode(payload)
			Expect(err).NotTo(HaveOccurred())
			Expect(resp.ID).To(Equal(uint64(9)))
			var s string
			Expect(resp.DecodeResult(&s)).To(Succeed())
			Expect(s).To(Equal(big))
			var v any
			Expect(resp.DecodeResult(&v)).To(Succeed())
			Expect(v).To(Equal(big))
			var raw json.RawMessage
			Expect(resp.DecodeResult(&raw)).To(Succeed())
			Expect(string(raw)).To(Equal(`"` + big + `"`))
		}
		encoded := base64.StdEncoding.EncodeToString([]byte(big))
		resp, err := wire.DecodeResponse(segmented(`{"id":1,"ok":true,"result":"\udbff0"}`, "s", encoded))
		Expect(err).NotTo(HaveOccurred())
		var b []byte
		Expect(resp.DecodeResult(&b)).To(Succeed())
		Expect(string(b)).To(Equal(big), "a str into []byte: its base64 decoded, as from a plain frame")
		var into wire.Response
		Expect(wire.PeekResponseInto(segmented(`{"id":4,"ok":true,"result":"\udbff0"}`, "b", "raw"), &into)).To(Succeed())
		var text string
		Expect(into.DecodeResult(&text)).To(Succeed())
		Expect(text).To(Equal(base64.StdEncoding.EncodeToString([]byte("raw"))))
		again, err := wire.EncodeResponse(into)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(again)).To(ContainSubstring(`"result":"cmF3"`))
	})

	It("decodes items, callbacks and nested results through the plain reply they stand for", func() {
		resp, err := wire.DecodeResponse(segmented(`{"id":2,"item":{"t":"\udbff1","u":["\udbff0"]}}`, "ss", "zero", "one\n"))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(resp.Item)).To(Equal(`{"t":"one\n","u":["zero"]}`))
		resp, err = wire.DecodeResponse(segmented(`{"id":2,"callback":{"seq":1,"name":"f","args":"\udbff0"}}`, "s", "arg"))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(resp.Callback.Args)).To(Equal(`"arg"`))
	})

	It("reads a segmented frame whole under max_frame, segments included, and refuses a larger one before reading it", func() {
		payload := segmented(`{"id":1,"ok":true,"result":"\udbff0"}`, "s", big)
		var buf bytes.Buffer
		Expect(wire.WriteFrame(&buf, payload, len(payload))).To(Succeed())
		frame := buf.Bytes()
		got, err := wire.ReadFrame(bytes.NewReader(frame), len(payload))
		Expect(err).NotTo(HaveOccurred())
		Expect(got).To(Equal(payload))
		r := bytes.NewReader(frame)
		_, err = wire.ReadFrame(r, len(payload)-1)
		Expect(err).To(MatchError(wire.ErrFrameTooLarge))
		Expect(r.Len()).To(Equal(len(payload)), "the payload is left unread")
		fr := wire.NewFrameReader(bytes.NewReader(frame), len(payload))
		Expect(fr.Next()).To(Equal(payload))
	})

	DescribeTable("refuses a malformed segmented frame as a protocol violation",
		func(payload []byte, reason string) {
			_, err := wire.DecodeResponse(payload)
			Expect(err).To(MatchError(wire.ErrProtocol))
			Expect(err.Error()).To(ContainSubstring(reason))
			_, err = wire.DecodeRequest(payload)
			Expect(err).To(MatchError(wire.ErrProtocol))
		},
		Entry("shorter than its header", []byte{0, 0, 0}, "shorter than its header"),
		Entry("no segment", segmented(`{"id":1,"ok":true,"result":1}`, ""), "no segment"),
		Entry("a reference out of range", segmented(`{"id":1,"ok":true,"result":"\udbff1"}`, "s", "a"), "names segment 1 of 1"),
		Entry("a segment referenced twice (overlapping)", segmented(`{"id":1,"ok":true,"result":["\udbff0","\udbff0"]}`, "s", "a"), "referenced twice"),
		Entry("a segment never referenced", segmented(`{"id":1,"ok":true,"result":"\udbff0"}`, "ss", "a", "b"), "segment 1 is not referenced"),
		Entry("a malformed reference", segmented(`{"id":1,"ok":true,"result":"\udbff01"}`, "s", "a"), "malformed reference"),
		Entry("an unknown kind", segmented(`{"id":1,"ok":true,"result":"\udbff0"}`, "x", "a"), "kind"),
		Entry("trailing bytes", append(segmented(`{"id":1,"ok":true,"result":"\udbff0"}`, "s", "a"), "zz"...), "2 bytes after its last segment"),
		Entry("a segment past the end", segmented(`{"id":1,"ok":true,"result":"\udbff0"}`, "s", "a")[:51], "runs past the frame's end"),
		Entry("an envelope longer than the frame", func() []byte {
			p := segmented(`{"id":1,"ok":true,"result":"\udbff0"}`, "s", "a")
			binary.BigEndian.PutUint32(p[1:], 1<<30)
			return p
		}(), "do not fit"),
		Entry("a table longer than the frame", func() []byte {
			p := segmented(`{"id":1,"ok":true,"result":"\udbff0"}`, "s", "a")
			binary.BigEndian.PutUint32(p[5:], 1<<31)
			return p
		}(), "do not fit"),
		Entry("more segments than the envelope can reference", segmented(`{"id":1,"ok":true,"result":"\udbff0"}`, "sssss", "a", "b", "c", "d", "e"), "more than a 37-byte envelope can reference"),
		Entry("an envelope that is not UTF-8", segmented("{\"id\":1,\"ok\":true,\"result\":\"\\udbff0\",\"x\":\"\xff\"}", "s", "a"), "not valid UTF-8"),
		Entry("an envelope that is not JSON", segmented(`{"id":1,"ok":true,"result":"\udbff0"`, "s", "a"), "not a valid JSON envelope"),
	)

	It("refuses a text segment that is not UTF-8 as a protocol violation where it is decoded", func() {
		resp, err := wire.DecodeResponse(segmented(`{"id":1,"ok":true,"result":"\udbff0"}`, "s", big+"\xff"))
		Expect(err).NotTo(HaveOccurred(), "validated with the result, as PeekResponse's are")
		var s string
		Expect(resp.DecodeResult(&s)).To(MatchError(wire.ErrProtocol))
		Expect(resp.Check()).To(MatchError(wire.ErrProtocol))
		_, err = wire.DecodeResponse(segmented(`{"id":1,"ok":true,"result":["\udbff0"]}`, "s", "\xff"))
		Expect(err).To(MatchError(wire.ErrProtocol))
		Expect(err.Error()).To(ContainSubstring("text segment 0 is not valid UTF-8"))
	})

	It("segments a plain reply's large strings (a wire-level fake's replies), keys and small strings left inline", func() {
		plain := []byte(`{"id":5,"ok":true,"result":{"` + big + `":1,"v":"` + big + `\n","w":"s"}}`)
		frame, ok := wire.Segment(plain, wire.SegmentMin)
		Expect(ok).To(BeTrue())
		resolved, err := wire.Resolve(payloadOf(frame))
		Expect(err).NotTo(HaveOccurred())
		Expect(resolved).To(Equal(plain))
		_, ok = wire.Segment([]byte(`{"id":5,"ok":true,"result":"small"}`), wire.SegmentMin)
		Expect(ok).To(BeFalse())
	})
})
