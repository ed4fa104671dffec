package wire

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"reflect"
	"slices"
	"unicode/utf8"
	"unsafe"
)

// Segmented frames (PROTOCOL.md, Segmented frames): a large string or
// []byte travels as raw bytes after the JSON envelope, referenced from it,
// so neither side escapes, quotes or base64-encodes it. A frame is
// segmented when its payload starts with segmentMarker:
//
//	0x00, J (uint32), K (uint32), K × (kind byte, length uint32),
//	J bytes of envelope, then the K segments back to back
//
// and a reference in the envelope is the JSON string `"\udbff<i>"`: a lone
// surrogate, which neither side ever writes in a plain frame. A segmented
// frame means exactly the plain frame whose references are replaced by the
// JSON string of their segment: the text of an 's' segment, the standard
// base64 of a 'b' segment's bytes.

const (
	// segmentMarker is the first byte of a segmented frame's payload (a
	// JSON text never starts with NUL).
	segmentMarker = 0x00
	// segmentText and segmentBytes are a segment's kinds: UTF-8 text, or
	// bytes standing for their base64 text.
	segmentText  = 's'
	segmentBytes = 'b'
	// SegmentMin is the size from which the Go side sends a string or
	// []byte as a segment: below it, escaping the value costs less than
	// the segment's bookkeeping on the worker's side.
	SegmentMin = 4 << 10
	// FeatureSegments is the ping feature of a peer that reads segmented
	// frames.
	FeatureSegments = "segments"

	segHead  = 9 // marker, J, K
	segEntry = 5 // kind, length
	minRef   = 9 // the shortest reference, "\udbff0": an envelope of J bytes references at most J/9 segments
)

// refPrefix starts every reference: a JSON string whose first character is
// the lone surrogate U+DBFF.
const refPrefix = `"\udbff`

// segment is one raw segment of a frame.
type segment struct {
	kind byte
	data []byte
}

// isSegmented reports whether payload is a segmented frame's.
func isSegmented(payload []byte) bool { return len(payload) > 0 && payload[0] == segmentMarker }

// splitSegmented parses a segmented payload: its envelope (references
// resolved into refs, checked: each segment referenced exactly once) and
// its segments. Anything malformed is a *ProtocolError.
func splitSegmented(payload []byte) (env []byte, segs []segment, refs []segRef, err error) {
	bad := func(format string, args ...any) error {
		return &ProtocolError{Reason: "segmented frame: " + fmt.Sprintf(format, args...), Frame: excerpt(payload)}
	}
	if len(payload) < segHead {
		return nil, nil, nil, bad("%d bytes, shorter than its header", len(payload))
	}
	envLen := uint64(binary.BigEndian.Uint32(payload[1:5]))
	count := uint64(binary.BigEndian.Uint32(payload[5:9]))
	rest := uint64(len(payload) - segHead)
	if count == 0 {
		return nil, nil, nil, bad("no segment")
	}
	if count*segEntry > rest || count*segEntry+envLen > rest {
		return nil, nil, nil, bad("a table of %d segments and a %d-byte envelope do not fit its %d bytes", count, envLen, len(payload))
	}
	if count*minRef > envLen { // checked before the table is allocated
		return nil, nil, nil, bad("%d segments, more than a %d-byte envelope can reference", count, envLen)
	}
	table := payload[segHead : segHead+count*segEntry]
	env = payload[segHead+count*segEntry : segHead+count*segEntry+envLen]
	data := payload[segHead+count*segEntry+envLen:]
	segs = make([]segment, count)
	var total uint64
	for i := range segs {
		kind := table[i*segEntry]
		if kind != segmentText && kind != segmentBytes {
			return nil, nil, nil, bad("segment %d has kind %q", i, kind)
		}
		size := uint64(binary.BigEndian.Uint32(table[i*segEntry+1:]))
		if total+size > uint64(len(data)) {
			return nil, nil, nil, bad("segment %d (%d bytes) runs past the frame's end", i, size)
		}
		segs[i] = segment{kind: kind, data: data[total : total+size : total+size]}
		total += size
	}
	if total != uint64(len(data)) {
		return nil, nil, nil, bad("%d bytes after its last segment", uint64(len(data))-total)
	}
	if !utf8.Valid(env) {
		return nil, nil, nil, bad("envelope is not valid UTF-8")
	}
	if refs, err = findRefs(env, len(segs)); err != nil {
		return nil, nil, nil, &ProtocolError{Reason: "segmented frame: " + err.Error(), Frame: excerpt(env)}
	}
	return env, segs, refs, nil
}

// segRef is a reference in an envelope: env[start:end] names segment index.
type segRef struct{ start, end, index int }

// findRefs finds the references of env, checking that each of the count
// segments is referenced exactly once.
func findRefs(env []byte, count int) ([]segRef, error) {
	var refs []segRef
	seen := make([]bool, count)
	for i := 0; i < len(env); {
		q := bytes.IndexByte(env[i:], '"')
		if q < 0 {
			break
		}
		start := i + q
		end := stringEnd(env, start+1)
		if end < 0 {
			return nil, fmt.Errorf("envelope has an unterminated string")
		}
		if bytes.HasPrefix(env[start:], []byte(refPrefix)) {
			index, ok := refIndex(env[start+len(refPrefix) : end-1])
			switch {
			case !ok:
				return nil, fmt.Errorf("malformed reference %s", env[start:end])
			case index >= count:
				return nil, fmt.Errorf("reference %s names segment %d of %d", env[start:end], index, count)
			case seen[index]:
				return nil, fmt.Errorf("segment %d referenced twice", index)
			}
			seen[index] = true
			refs = append(refs, segRef{start: start, end: end, index: index})
		}
		i = end
	}
	if len(refs) != count {
		for i, s := range seen {
			if !s {
				return nil, fmt.Errorf("segment %d is not referenced", i)
			}
		}
	}
	return refs, nil
}

// stringEnd returns the index just past the closing quote of the JSON
// string whose text starts at i, or -1.
func stringEnd(b []byte, i int) int {
	for i < len(b) {
		j := bytes.IndexAny(b[i:], `"\`)
		if j < 0 {
			return -1
		}
		i += j
		if b[i] == '"' {
			return i + 1
		}
		i += 2 // an escape: the next byte is never the closing quote
	}
	return -1
}

// refIndex parses a reference's decimal index (no sign, no leading zero).
func refIndex(digits []byte) (int, bool) {
	if len(digits) == 0 || len(digits) > 9 || digits[0] == '0' && len(digits) > 1 {
		return 0, false
	}
	n := 0
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// appendSegmentJSON appends the JSON string a segment stands for; a text
// segment that is not valid UTF-8 is a *ProtocolError.
func appendSegmentJSON(dst []byte, i int, s segment) ([]byte, error) {
	if s.kind == segmentBytes {
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, s.data)
		return append(dst, '"'), nil
	}
	out, bad := appendQuoted(dst, unsafe.String(unsafe.SliceData(s.data), len(s.data)))
	if bad >= 0 {
		return nil, &ProtocolError{Reason: fmt.Sprintf("segmented frame: text segment %d is not valid UTF-8 (byte %d)", i, bad), Frame: excerpt(s.data)}
	}
	return out, nil
}

// resolveRefs returns the plain envelope env stands for: every reference
// replaced by its segment's JSON string.
func resolveRefs(env []byte, segs []segment, refs []segRef) ([]byte, error) {
	size := len(env)
	for _, s := range segs {
		size += len(s.data) + len(s.data)/3 + 2
	}
	out := make([]byte, 0, size)
	last := 0
	for _, r := range refs {
		out = append(out, env[last:r.start]...)
		var err error
		if out, err = appendSegmentJSON(out, r.index, segs[r.index]); err != nil {
			return nil, err
		}
		last = r.end
	}
	return append(out, env[last:]...), nil
}

// Resolve returns the plain payload a payload stands for: a segmented
// frame's envelope with its references resolved (a *ProtocolError when it
// is malformed), any other payload as it is.
func Resolve(payload []byte) ([]byte, error) {
	if !isSegmented(payload) {
		return payload, nil
	}
	env, segs, refs, err := splitSegmented(payload)
	if err != nil {
		return nil, err
	}
	return resolveRefs(env, segs, refs)
}

// decodeSegment decodes segment s into v as Unmarshal would decode the JSON
// string it stands for, on bulk paths for a *string, a *[]byte and an
// empty *any.
func decodeSegment(i int, s segment, v any) error {
	switch p := v.(type) {
	case nil:
		return checkSegment(i, s)
	case *string:
		if p != nil {
			if s.kind == segmentBytes {
				*p = base64.StdEncoding.EncodeToString(s.data)
				return nil
			}
			if err := checkSegment(i, s); err != nil {
				return err
			}
			*p = string(s.data)
			return nil
		}
	case *[]byte:
		if p != nil && s.kind == segmentBytes {
			*p = slices.Clone(s.data)
			return nil
		}
		if p != nil {
			if err := checkSegment(i, s); err != nil {
				return err
			}
			out := make([]byte, base64.StdEncoding.DecodedLen(len(s.data)))
			n, err := base64.StdEncoding.Decode(out, s.data)
			if err == nil {
				*p = out[:n]
				return nil
			}
		}
	case *any:
		if p != nil && (*p == nil || !isPointer(*p)) {
			var text string
			if err := decodeSegment(i, s, &text); err != nil {
				return err
			}
			*p = text
			return nil
		}
	}
	text, err := appendSegmentJSON(nil, i, s)
	if err != nil {
		return err
	}
	return Unmarshal(text, v)
}

// isPointer reports whether v is a pointer (json.Unmarshal decodes into
// what an interface's pointer points at).
func isPointer(v any) bool { return reflect.TypeOf(v).Kind() == reflect.Pointer }

// checkSegment validates a text segment's UTF-8.
func checkSegment(i int, s segment) error {
	if s.kind == segmentText && !utf8.Valid(s.data) {
		_, err := appendSegmentJSON(nil, i, s)
		return err
	}
	return nil
}
