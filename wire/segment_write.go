// Segmented frames: writing them (the encoder side of segment.go).

package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"slices"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// segmenter builds a segmented frame: the envelope as it is written, and
// the segments its references name.
type segmenter struct {
	min  int
	segs []segment
}

// ref appends a reference to a new segment.
func (g *segmenter) ref(dst []byte, kind byte, data []byte) []byte {
	dst = append(dst, refPrefix...)
	dst = strconv.AppendInt(dst, int64(len(g.segs)), 10)
	g.segs = append(g.segs, segment{kind: kind, data: data})
	return append(dst, '"')
}

// largeValue reports whether v holds a value that travels as a segment: a
// string or []byte of at least min bytes, directly or inside the dynamic
// containers appendValue walks (map[string]any, []any, []string,
// map[string]string), to MaxDepth levels.
func largeValue(v any, min, depth int) bool {
	if depth > MaxDepth {
		return false
	}
	switch x := v.(type) {
	case string:
		return len(x) >= min
	case []byte:
		return len(x) >= min
	case []string:
		for _, s := range x {
			if len(s) >= min {
				return true
			}
		}
	case map[string]string:
		for _, s := range x {
			if len(s) >= min {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if largeValue(e, min, depth+1) {
				return true
			}
		}
	case map[string]any:
		for _, e := range x {
			if largeValue(e, min, depth+1) {
				return true
			}
		}
	}
	return false
}

// appendValue appends v's JSON, large strings and []byte as references;
// ok is false where the value needs Marshal's own errors (invalid UTF-8,
// a cycle, a value JSON cannot carry): the caller then encodes it plainly.
func (g *segmenter) appendValue(dst []byte, v any, depth int) ([]byte, bool) {
	if depth > MaxDepth {
		return dst, false
	}
	switch x := v.(type) {
	case string:
		if len(x) >= g.min {
			if !utf8.ValidString(x) {
				return dst, false
			}
			return g.ref(dst, segmentText, unsafe.Slice(unsafe.StringData(x), len(x))), true
		}
		out, bad := appendQuoted(dst, x)
		return out, bad < 0
	case []byte:
		if x != nil && len(x) >= g.min {
			return g.ref(dst, segmentBytes, x), true
		}
	case []string:
		if x != nil {
			return appendSlice(g, dst, x, depth)
		}
	case []any:
		if x != nil {
			return appendSlice(g, dst, x, depth)
		}
	case map[string]string:
		if x != nil {
			return appendMap(g, dst, x, depth)
		}
	case map[string]any:
		if x != nil {
			return appendMap(g, dst, x, depth)
		}
	}
	raw, err := Marshal(v)
	if err != nil {
		return dst, false
	}
	return append(dst, raw...), true
}

// appendSlice appends xs as a JSON array whose large strings are segments.
func appendSlice[E any](g *segmenter, dst []byte, xs []E, depth int) ([]byte, bool) {
	dst = append(dst, '[')
	for i, e := range xs {
		if i > 0 {
			dst = append(dst, ',')
		}
		var ok bool
		if dst, ok = g.appendValue(dst, e, depth+1); !ok {
			return dst, false
		}
	}
	return append(dst, ']'), true
}

// appendMap appends a map as encoding/json does: keys sorted.
func appendMap[V any](g *segmenter, dst []byte, m map[string]V, depth int) ([]byte, bool) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		var bad int
		if dst, bad = appendQuoted(dst, k); bad >= 0 {
			return dst, false
		}
		dst = append(dst, ':')
		var ok bool
		if dst, ok = g.appendValue(dst, any(m[k]), depth+1); !ok {
			return dst, false
		}
	}
	return append(dst, '}'), true
}

// AppendRequestFrame appends req's whole frame, length prefix included, to
// dst, args marshaled as AppendRequestArgs does. With segmentMin > 0 (the
// peer reads segmented frames) a string or []byte of at least segmentMin
// bytes in args (itself, or inside a map[string]any, []any, []string or
// map[string]string) travels as a segment; any other frame is byte for
// byte a plain one. The caller checks the frame against its limit.
func AppendRequestFrame(dst []byte, req Request, args any, segmentMin int) ([]byte, error) {
	base := len(dst)
	if segmentMin > 0 && largeValue(args, segmentMin, 0) {
		if frame, ok := appendSegmentedRequest(dst, req, args, segmentMin); ok {
			return frame, nil
		}
		dst = dst[:base]
	}
	dst = append(dst, 0, 0, 0, 0)
	dst, err := AppendRequestArgs(dst, req, args)
	if err != nil {
		return dst[:base], err
	}
	binary.BigEndian.PutUint32(dst[base:], uint32(len(dst)-base-HeaderSize))
	return dst, nil
}

// appendSegmentedRequest is AppendRequestFrame's segmented form; false
// when args need the plain path (which then says what is wrong with them).
func appendSegmentedRequest(dst []byte, req Request, args any, segmentMin int) ([]byte, bool) {
	g := segmenter{min: segmentMin}
	env, ok := g.appendValue(nil, args, 0)
	if !ok || len(g.segs) == 0 {
		return nil, false
	}
	var err error
	if env, err = AppendRequestArgs(nil, req, json.RawMessage(env)); err != nil {
		return nil, false
	}
	return appendSegmentedFrame(dst, env, g.segs), true
}

// appendSegmentedFrame appends a segmented frame, length prefix included,
// of envelope env and segs.
func appendSegmentedFrame(dst, env []byte, segs []segment) []byte {
	size := segHead + segEntry*len(segs) + len(env)
	for _, s := range segs {
		size += len(s.data)
	}
	dst = slices.Grow(dst, HeaderSize+size)
	dst = binary.BigEndian.AppendUint32(dst, uint32(size))
	dst = append(dst, segmentMarker)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(env)))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(segs)))
	for _, s := range segs {
		dst = append(dst, s.kind)
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(s.data)))
	}
	dst = append(dst, env...)
	for _, s := range segs {
		dst = append(dst, s.data...)
	}
	return dst
}

// Segment scans a plain JSON payload (as a wire-level fake writes it) and
// returns the segmented frame, length prefix included, that carries its
// strings of at least min bytes of text as segments; ok is false when it
// has none (send the plain frame) or cannot be scanned.
func Segment(payload []byte, min int) (frame []byte, ok bool) {
	var env []byte
	var segs []segment
	last := 0
	for i := 0; i < len(payload); {
		q := bytes.IndexByte(payload[i:], '"')
		if q < 0 {
			break
		}
		start := i + q
		end := stringEnd(payload, start+1)
		if end < 0 {
			return nil, false
		}
		if end-start-2 >= min {
			text, ok := quickString(payload[start:end])
			if !ok {
				return nil, false
			}
			if isKey(payload, end) {
				i = end
				continue
			}
			env = append(env, payload[last:start]...)
			env = append(env, refPrefix...)
			env = strconv.AppendInt(env, int64(len(segs)), 10)
			env = append(env, '"')
			segs = append(segs, segment{kind: segmentText, data: []byte(text)})
			last = end
		}
		i = end
	}
	if len(segs) == 0 {
		return nil, false
	}
	env = append(env, payload[last:]...)
	return appendSegmentedFrame(nil, env, segs), true
}

// isKey reports whether the JSON string ending at end is an object's key.
func isKey(b []byte, end int) bool {
	for end < len(b) && isSpace(b[end]) {
		end++
	}
	return end < len(b) && b[end] == ':'
}
