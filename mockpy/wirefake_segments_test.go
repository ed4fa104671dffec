package mockpy_test

import (
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/mockpy"
	"github.com/pyharness/pyharness/wire"
)

// rawFrames reads the wire fake's frames whole, payloads undecoded.
func rawFrames(f *frames) func() []byte {
	return func() []byte {
		GinkgoHelper()
		payload, err := wire.ReadFrame(f.conn, wire.DefaultMaxFrame)
		Expect(err).NotTo(HaveOccurred())
		return payload
	}
}

var _ = Describe("The wire fake's segmented frames", func() {
	It("lists segments, reads segmented requests, and answers with segments only once the ping asked", func() {
		py := mockpy.New()
		f := &frames{conn: py.Pipe()}
		DeferCleanup(f.conn.Close)
		next := rawFrames(f)
		big := strings.Repeat("q", wire.SegmentMin) + "\n\"end\""

		f.send(1, "ping", nil)
		hello, err := wire.DecodeResponse(next())
		Expect(err).NotTo(HaveOccurred())
		var h struct{ Features []string }
		Expect(hello.DecodeResult(&h)).To(Succeed())
		Expect(h.Features).To(ContainElement(wire.FeatureSegments))

		frame, err := wire.AppendRequestFrame(nil, wire.Request{ID: 2, Method: "echo"}, big, wire.SegmentMin)
		Expect(err).NotTo(HaveOccurred())
		Expect(frame[wire.HeaderSize]).To(Equal(byte(0)), "a segmented request")
		_, err = f.conn.Write(frame)
		Expect(err).NotTo(HaveOccurred())
		payload := next()
		Expect(payload[0]).To(Equal(byte('{')), "no segments before the ping asked")
		resp, err := wire.DecodeResponse(payload)
		Expect(err).NotTo(HaveOccurred())
		var back string
		Expect(resp.DecodeResult(&back)).To(Succeed())
		Expect(back).To(Equal(big))

		f.send(3, "ping", map[string]bool{"segments": true})
		next()
		_, err = f.conn.Write(frame)
		Expect(err).NotTo(HaveOccurred())
		payload = next()
		Expect(payload[0]).To(Equal(byte(0)), "a segmented reply")
		Expect(payload).To(ContainSubstring(big), "the text as it is, unescaped")
		resp, err = wire.DecodeResponse(payload)
		Expect(err).NotTo(HaveOccurred())
		Expect(resp.DecodeResult(&back)).To(Succeed())
		Expect(back).To(Equal(big))

		f.send(4, "echo", "small")
		Expect(next()).To(Equal([]byte(`{"id":4,"ok":true,"result":"small"}`)))
	})
})
