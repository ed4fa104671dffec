package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

const (
	// HeaderSize is the size of a frame's length prefix.
	HeaderSize = 4
	// DefaultMaxFrame is the largest frame payload accepted by default: 64 MiB.
	DefaultMaxFrame = 64 << 20
	// MaxFrameLimit is the largest limit a peer may configure; a length
	// prefix is 32 bits.
	MaxFrameLimit = 1<<32 - 1
	// MinMaxFrame is the smallest frame limit either side accepts: room for
	// any error reply.
	MinMaxFrame = 1024
	// ProtocolVersion is the version a worker reports in its ping reply.
	ProtocolVersion = 1
	// MaxDepth is how deep values are guaranteed to nest. Deeper args may be
	// refused with a bad request (a real worker refuses them from its
	// interpreter's recursion limit, about 1000 levels), deeper results are
	// unserialisable.
	MaxDepth = 500
)

// Depth returns how deeply the arrays and objects of a JSON text nest.
func Depth(data []byte) int {
	deepest, level := 0, 0
	inString, escaped := false, false
	for _, c := range data {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			level++
			deepest = max(deepest, level)
		case c == ']' || c == '}':
			level--
		}
	}
	return deepest
}

// AppendFrame appends payload, prefixed with its length, to dst.
// It returns a *FrameTooLargeError if payload exceeds max.
func AppendFrame(dst, payload []byte, max int) ([]byte, error) {
	if len(payload) > max {
		return dst, &FrameTooLargeError{Size: uint64(len(payload)), Max: max, Direction: Send}
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(payload)))
	return append(dst, payload...), nil
}

// WriteFrame writes payload as one frame with a single Write call.
// It returns a *FrameTooLargeError, and writes nothing, if payload exceeds max.
func WriteFrame(w io.Writer, payload []byte, max int) error {
	buf, err := AppendFrame(make([]byte, 0, HeaderSize+len(payload)), payload, max)
	if err != nil {
		return err
	}
	_, err = w.Write(buf)
	return err
}

// ReadFrame reads one frame and returns its payload.
//
// It returns io.EOF when r ends cleanly between frames. The length prefix is
// checked against max before anything is allocated: a prefix over max gives a
// *FrameTooLargeError, and the payload is left unread. A stream that ends
// inside a frame gives a *ProtocolError wrapping io.ErrUnexpectedEOF.
func ReadFrame(r io.Reader, max int) ([]byte, error) {
	var header [HeaderSize]byte
	if _, err := io.ReadFull(r, header[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, &ProtocolError{Reason: "stream ended inside a frame header", Err: err}
		}
		return nil, err
	}
	size := binary.BigEndian.Uint32(header[:])
	if uint64(size) > uint64(max) {
		return nil, &FrameTooLargeError{Size: uint64(size), Max: max, Direction: Receive}
	}
	payload, err := readPayload(r, int(size))
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, &ProtocolError{Reason: fmt.Sprintf("stream ended inside a %d-byte frame", size), Err: io.ErrUnexpectedEOF}
		}
		return nil, err
	}
	if !isSegmented(payload) && !utf8.Valid(payload) { // a segmented frame's envelope and text are checked as it is decoded
		return nil, &ProtocolError{Reason: "frame payload is not valid UTF-8", Frame: excerpt(payload)}
	}
	return payload, nil
}

// eagerAlloc is the largest payload allocated in one piece up front (a
// value of a few MiB is read with no copy). Larger payloads grow, doubling,
// with the bytes that actually arrive, so a length prefix that lies costs
// memory only for about twice the data really sent.
const eagerAlloc = 4 << 20

// payloadBuffer is the buffer a payload of size bytes starts in.
func payloadBuffer(size int) []byte { return make([]byte, 0, min(size, eagerAlloc)) }

// grow makes room in a full payload buffer for more of its size bytes.
func grow(payload []byte, size int) []byte {
	if len(payload) < cap(payload) {
		return payload
	}
	bigger := make([]byte, len(payload), min(size, 2*cap(payload)))
	copy(bigger, payload)
	return bigger
}

func readPayload(r io.Reader, size int) ([]byte, error) {
	payload := payloadBuffer(size)
	for len(payload) < size {
		payload = grow(payload, size)
		n, err := io.ReadFull(r, payload[len(payload):cap(payload)])
		payload = payload[:len(payload)+n]
		if err != nil {
			return nil, err
		}
	}
	return payload, nil
}

// excerpt keeps the start of a bad frame for error messages.
func excerpt(b []byte) []byte {
	const keep = 120
	if len(b) > keep {
		b = b[:keep]
	}
	return append([]byte(nil), b...)
}

// FrameReader reads frames as ReadFrame does, and can be resumed after a
// read error that leaves the stream intact (a read deadline): the bytes of
// a frame already read are kept, and the next call to Next continues the
// frame. A caller whose context ended mid-frame can so hand the connection
// to someone who finishes reading it.
type FrameReader struct {
	r       io.Reader
	max     int
	hdr     [HeaderSize]byte
	nh      int
	size    int
	payload []byte
	spare   []byte // a payload given back (Recycle), for the next frame that fits
}

// recycleMax is the largest payload buffer a FrameReader keeps for reuse.
const recycleMax = 64 << 10

// Recycle gives back payload, returned by Next, once the caller and
// everything decoded from it no longer use it: Next may read a later frame
// into it. Buffers over 64 KiB are left to the garbage collector.
func (f *FrameReader) Recycle(payload []byte) {
	if cap(payload) <= recycleMax {
		f.spare = payload[:0]
	}
}

// NewFrameReader reads frames of at most max bytes from r.
func NewFrameReader(r io.Reader, max int) *FrameReader { return &FrameReader{r: r, max: max} }

// SetMax changes the frame limit for frames not started yet.
func (f *FrameReader) SetMax(max int) { f.max = max }

// Next returns the next frame's payload. io.EOF is a clean end between
// frames; an end inside a frame, a payload that is not UTF-8 or a length
// over the limit is an error that ends the stream; any other read error
// (a deadline) may be followed by another Next.
func (f *FrameReader) Next() ([]byte, error) {
	for f.nh < HeaderSize {
		n, err := f.r.Read(f.hdr[f.nh:])
		f.nh += n
		if f.nh == HeaderSize {
			break
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				if f.nh == 0 {
					return nil, io.EOF
				}
				return nil, &ProtocolError{Reason: "stream ended inside a frame header", Err: io.ErrUnexpectedEOF}
			}
			return nil, err
		}
	}
	if f.payload == nil {
		size := binary.BigEndian.Uint32(f.hdr[:])
		if uint64(size) > uint64(f.max) {
			return nil, &FrameTooLargeError{Size: uint64(size), Max: f.max, Direction: Receive}
		}
		f.size = int(size)
		if f.spare != nil && cap(f.spare) >= f.size {
			f.payload, f.spare = f.spare, nil
		} else {
			f.payload = payloadBuffer(f.size)
		}
	}
	for len(f.payload) < f.size {
		f.payload = grow(f.payload, f.size)
		n, err := f.r.Read(f.payload[len(f.payload):min(cap(f.payload), f.size)]) // a recycled buffer may be larger than the frame
		f.payload = f.payload[:len(f.payload)+n]
		if len(f.payload) == f.size {
			break
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, &ProtocolError{Reason: fmt.Sprintf("stream ended inside a %d-byte frame", f.size), Err: io.ErrUnexpectedEOF}
			}
			return nil, err
		}
	}
	payload := f.payload
	f.nh, f.size, f.payload = 0, 0, nil
	if !isSegmented(payload) && !utf8.Valid(payload) {
		return nil, &ProtocolError{Reason: "frame payload is not valid UTF-8", Frame: excerpt(payload)}
	}
	return payload, nil
}
