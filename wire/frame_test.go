//go:build !pyharness_fuzz

package wire_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/wire"
)

func header(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }

var _ = Describe("Frames", func() {
	It("round-trips payloads back to back and ends with io.EOF", func() {
		var buf bytes.Buffer
		Expect(wire.WriteFrame(&buf, []byte(`{"a":1}`), 100)).To(Succeed())
		Expect(wire.WriteFrame(&buf, []byte(`[]`), 100)).To(Succeed())
		Expect(buf.Bytes()[:4]).To(Equal(header(7)))

		Expect(wire.ReadFrame(&buf, 100)).To(Equal([]byte(`{"a":1}`)))
		Expect(wire.ReadFrame(&buf, 100)).To(Equal([]byte(`[]`)))
		_, err := wire.ReadFrame(&buf, 100)
		Expect(err).To(MatchError(io.EOF))
	})

	It("refuses to write an oversize payload and writes nothing", func() {
		var buf bytes.Buffer
		err := wire.WriteFrame(&buf, make([]byte, 11), 10)
		var tooLarge *wire.FrameTooLargeError
		Expect(errors.As(err, &tooLarge)).To(BeTrue())
		Expect(*tooLarge).To(Equal(wire.FrameTooLargeError{Size: 11, Max: 10, Direction: wire.Send}))
		Expect(err).To(MatchError(wire.ErrFrameTooLarge))
		Expect(buf.Len()).To(BeZero())
	})

	It("rejects a length prefix over the limit before reading the payload", func() {
		r := bytes.NewReader(append(header(0xFFFFFFFF), "abc"...))
		_, err := wire.ReadFrame(r, wire.DefaultMaxFrame)
		Expect(err).To(MatchError(wire.ErrFrameTooLarge))
		Expect(err.(*wire.FrameTooLargeError).Direction).To(Equal(wire.Receive))
		Expect(r.Len()).To(Equal(3), "the payload must be left unread")
	})

	It("does not allocate what a lying 4 GiB length prefix announces", func() {
		r := bytes.NewReader(append(header(0xFFFFFFFF), make([]byte, 3<<20)...))
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := wire.ReadFrame(r, wire.MaxFrameLimit)
		runtime.ReadMemStats(&after)
		Expect(err).To(MatchError(wire.ErrProtocol))
		Expect(err).To(MatchError(io.ErrUnexpectedEOF))
		Expect(after.TotalAlloc - before.TotalAlloc).To(BeNumerically("<", 64<<20))
	})

	It("reads a payload larger than the eager allocation exactly", func() {
		payload := bytes.Repeat([]byte("0123456789"), 1<<20)
		var buf bytes.Buffer
		Expect(wire.WriteFrame(&buf, payload, wire.DefaultMaxFrame)).To(Succeed())
		Expect(wire.ReadFrame(&buf, wire.DefaultMaxFrame)).To(Equal(payload))
	})

	It("reads a frame of a few MiB into one buffer, with no copy on the way", func() {
		var buf bytes.Buffer
		Expect(wire.WriteFrame(&buf, bytes.Repeat([]byte("x"), 1<<20+64), wire.DefaultMaxFrame)).To(Succeed())
		frame := buf.Bytes()
		r := bytes.NewReader(frame)
		fr := wire.NewFrameReader(r, wire.DefaultMaxFrame)
		Expect(bytesPerRun(func() {
			r.Reset(frame)
			_, _ = wire.ReadFrame(r, wire.DefaultMaxFrame)
		})).To(BeNumerically("<", len(frame)*5/4), "ReadFrame")
		Expect(bytesPerRun(func() {
			r.Reset(frame)
			_, _ = fr.Next()
		})).To(BeNumerically("<", len(frame)*5/4), "FrameReader.Next")
	})

	DescribeTable("reports truncated and invalid frames as protocol errors",
		func(stream []byte) {
			_, err := wire.ReadFrame(bytes.NewReader(stream), 100)
			Expect(err).To(MatchError(wire.ErrProtocol))
		},
		Entry("cut inside the header", []byte{0, 0}),
		Entry("cut inside the payload", append(header(10), "abc"...)),
		Entry("payload that is not UTF-8", append(header(2), 0xff, 0xfe)),
	)
})
