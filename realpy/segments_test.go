package realpy

import (
	"context"
	"net"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/wire"
)

// A peer on a pipe that answers ping with features, then echoes every
// request's args plainly, recording each request payload's first byte and
// the readiness ping's args.
type segmentPeer struct {
	conn     net.Conn
	features []string
	firsts   chan byte
	pingArgs chan string
}

func (p *segmentPeer) serve() {
	for {
		payload, err := wire.ReadFrame(p.conn, wire.DefaultMaxFrame)
		if err != nil {
			return
		}
		p.firsts <- payload[0]
		req, err := wire.DecodeRequest(payload)
		if err != nil {
			return
		}
		result := req.Args
		if req.Method == "ping" {
			p.pingArgs <- string(req.Args)
			result, _ = wire.Marshal(map[string]any{"protocol": wire.ProtocolVersion, "max_frame": wire.DefaultMaxFrame, "features": p.features})
		}
		out, _ := wire.EncodeResponse(wire.Response{ID: req.ID, OK: true, Result: result})
		if wire.WriteFrame(p.conn, out, wire.DefaultMaxFrame) != nil {
			return
		}
	}
}

var _ = Describe("Segmented requests", func() {
	connect := func(features ...string) (*Client, *segmentPeer) {
		ours, theirs := net.Pipe()
		peer := &segmentPeer{conn: theirs, features: features, firsts: make(chan byte, 16), pingArgs: make(chan string, 4)}
		go peer.serve()
		c, err := NewClient(context.Background(), ours)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { _ = c.Close(); _ = theirs.Close() })
		Expect(<-peer.firsts).To(Equal(byte('{')))
		Expect(<-peer.pingArgs).To(Equal(`{"segments":true}`), "the readiness ping says the Go side reads segments")
		return c, peer
	}
	big := strings.Repeat("s", wire.SegmentMin)

	It("go to a peer that lists segments, for large args only", func() {
		c, peer := connect("stream", wire.FeatureSegments)
		var back string
		Expect(c.Call(context.Background(), "echo", big, &back)).To(Succeed())
		Expect(back).To(Equal(big))
		Expect(<-peer.firsts).To(Equal(byte(0)), "segmented")
		Expect(c.Call(context.Background(), "echo", big[1:], &back)).To(Succeed())
		Expect(<-peer.firsts).To(Equal(byte('{')), "under the threshold: plain")
	})

	It("never go to a peer that does not list segments", func() {
		c, peer := connect("stream")
		var back []byte
		Expect(c.Call(context.Background(), "echo", []byte(big), &back)).To(Succeed())
		Expect(string(back)).To(Equal(big))
		Expect(<-peer.firsts).To(Equal(byte('{')))
	})
})
