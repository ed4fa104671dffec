package realpy

import (
	"context"
	"errors"
	"io"
	"net"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// A context that ends while a frame is being written must not cost the
// worker when nothing of the frame went out (a cancelled call's $return, or
// a request that never left): the connection stays usable. A frame cut in
// the middle cannot be taken back, so that write breaks it.
var _ = Describe("A write that its context ends", func() {
	var ours, theirs net.Conn
	var c *Client
	BeforeEach(func() {
		ours, theirs = net.Pipe()
		c = newClient(ours, "pipe", 1<<20, false, func(err error) error { return err })
		DeferCleanup(func() {
			_ = c.Close()
			_ = theirs.Close()
		})
	})

	It("sends nothing, says so, and leaves the connection usable", func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := c.write(ctx, []byte("frame one")) // nobody reads: the write can only end with the context
		var unsent *interruptedWrite
		Expect(errors.As(err, &unsent)).To(BeTrue(), "an interruptedWrite, got %v", err)
		Expect(err).To(MatchError(context.Canceled))

		got := make(chan []byte, 1)
		go func() {
			buf := make([]byte, len("frame two"))
			_, _ = io.ReadFull(theirs, buf)
			got <- buf
		}()
		Expect(c.write(context.Background(), []byte("frame two"))).To(Succeed(), "the deadline the context set is cleared")
		Expect(<-got).To(Equal([]byte("frame two")), "the reader sees only the frame that was sent")
		Expect(c.Err()).NotTo(HaveOccurred())
	})

	It("reports a frame cut in the middle as an error that is not an interruptedWrite", func() {
		ctx, cancel := context.WithCancel(context.Background())
		read := make(chan struct{})
		go func() {
			buf := make([]byte, 3)
			_, _ = io.ReadFull(theirs, buf) // take part of the frame, then stop reading
			cancel()
			close(read)
		}()
		err := c.write(ctx, []byte("a frame that is cut"))
		<-read
		Expect(err).To(MatchError(context.Canceled))
		Expect(err).To(MatchError(ContainSubstring("cut after 3 of 19 bytes")))
		var unsent *interruptedWrite
		Expect(errors.As(err, &unsent)).To(BeFalse(), "a cut frame cannot leave the connection usable")
	})
})
