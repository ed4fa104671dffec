//go:build !pyharness_fuzz

package wire_test

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/wire"
)

var _ = Describe("The allocation-free paths of a small call", func() {
	DescribeTable("AppendRequestArgs makes the bytes of AppendRequest with Marshal's args",
		func(args any) {
			req := wire.Request{ID: 7, Method: "echo", Session: "s", DeadlineMS: 12, Stream: 3}
			raw, err := wire.Marshal(args)
			Expect(err).NotTo(HaveOccurred())
			withRaw := req
			withRaw.Args = raw
			want, err := wire.AppendRequest(nil, withRaw)
			Expect(err).NotTo(HaveOccurred())
			got, err := wire.AppendRequestArgs([]byte("head"), req, args)
			Expect(err).NotTo(HaveOccurred())
			Expect(string(got)).To(Equal("head" + string(want)))
		},
		Entry("nil", nil), Entry("a string", "a <small> call"), Entry("an int", -42), Entry("an int64", int64(math.MaxInt64)),
		Entry("a bool", true), Entry("a map", map[string]any{"a": []int{1, 2}}), Entry("bytes", []byte{0, 1, 2}),
	)

	It("refuses text Marshal refuses, with the same error", func() {
		_, want := wire.Marshal("bad \xff")
		_, err := wire.AppendRequestArgs(nil, wire.Request{ID: 1, Method: "echo"}, "bad \xff")
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(Equal(want.Error()))
	})

	It("PeekResponseInto fills a caller's Response as PeekResponse returns one, canonical or not, and allocates nothing for a canonical reply", func() {
		for _, payload := range []string{
			`{"id":3,"ok":true,"result":{"a":1}}`,
			`{"ok":true,"id":4,"result":"x"}`,
			`{"id":5,"ok":false,"error":{"kind":"python","type":"KeyError","message":"k"}}`,
			`{"id":6,"item":[1]}`,
		} {
			want, err := wire.PeekResponse([]byte(payload))
			Expect(err).NotTo(HaveOccurred())
			var got wire.Response
			Expect(wire.PeekResponseInto([]byte(payload), &got)).To(Succeed())
			Expect(got.ID).To(Equal(want.ID), payload)
			Expect(got.OK).To(Equal(want.OK))
			Expect(string(got.Result)).To(Equal(string(want.Result)))
			Expect(got.Error).To(Equal(want.Error))
			Expect(string(got.Item)).To(Equal(string(want.Item)))
		}
		var r wire.Response
		Expect(wire.PeekResponseInto([]byte(`{"id":3,"ok":true,"result":`), &r)).To(MatchError(wire.ErrProtocol))
		payload := []byte(`{"id":8,"ok":true,"result":42}`)
		Expect(bytesPerRun(func() { _ = wire.PeekResponseInto(payload, &r) })).To(BeZero())
	})

	DescribeTable("Unmarshal decodes small numbers and booleans as json.Unmarshal does",
		func(data string) {
			check := func(got, want any) {
				gotErr := wire.Unmarshal([]byte(data), got)
				wantErr := json.Unmarshal([]byte(data), want)
				Expect(gotErr == nil).To(Equal(wantErr == nil), "%s into %T: %v / %v", data, got, gotErr, wantErr)
				if wantErr == nil {
					Expect(got).To(Equal(want), data)
				}
			}
			check(new(int), new(int))
			check(new(int64), new(int64))
			check(new(float64), new(float64))
			check(new(bool), new(bool))
		},
		Entry(nil, "42"), Entry(nil, " -7 "), Entry(nil, "0"), Entry(nil, "-0"), Entry(nil, "007"), Entry(nil, "1.5"),
		Entry(nil, "1e3"), Entry(nil, "9223372036854775807"), Entry(nil, "9223372036854775808"), Entry(nil, "-"),
		Entry(nil, "true"), Entry(nil, "false"), Entry(nil, "null"), Entry(nil, `"1"`), Entry(nil, "1."), Entry(nil, ".5"),
		Entry(nil, "2E-2"), Entry(nil, "1e400"), Entry(nil, strings.Repeat("9", 30)),
	)

	It("allocates nothing to decode an int", func() {
		var n int
		data := []byte("12345")
		Expect(bytesPerRun(func() { _ = wire.Unmarshal(data, &n) })).To(BeZero())
	})

	It("FrameReader reads a later frame into a payload given back, and keeps no large one", func() {
		var stream bytes.Buffer
		for _, p := range []string{"the first", "second", strings.Repeat("x", 70<<10), "third"} {
			frame, err := wire.AppendFrame(nil, []byte(p), wire.DefaultMaxFrame)
			Expect(err).NotTo(HaveOccurred())
			stream.Write(frame)
		}
		fr := wire.NewFrameReader(&stream, wire.DefaultMaxFrame)
		first, err := fr.Next()
		Expect(err).NotTo(HaveOccurred())
		fr.Recycle(first)
		second, err := fr.Next()
		Expect(err).NotTo(HaveOccurred())
		Expect(string(second)).To(Equal("second"))
		Expect(&second[0]).To(BeIdenticalTo(&first[0]), "the recycled buffer holds the next frame")
		big, err := fr.Next()
		Expect(err).NotTo(HaveOccurred())
		fr.Recycle(big)
		third, err := fr.Next()
		Expect(err).NotTo(HaveOccurred())
		Expect(string(third)).To(Equal("third"))
		Expect(cap(third)).To(BeNumerically("<", 1<<10), "a 70 KiB buffer is not kept")
	})
})
