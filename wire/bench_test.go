package wire_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/pyharness/pyharness/wire"
)

// Large values: 1 MiB of text or bytes through the codec, as a call's args
// (Marshal, then the request envelope) and as a result (the reply split,
// then the result decoded). b.SetBytes counts the value's 1 MiB.

const mib = 1 << 20

// largeTexts are the texts the large-value benchmarks carry: plain ASCII,
// prose with newlines and quotes (escapes on the wire), and non-ASCII text.
var largeTexts = map[string]string{
	"ascii":    strings.Repeat("x", mib),
	"prose":    fill("He said \"hello\", then left.\nA new line\tand a tab.\n"),
	"nonascii": fill("héllo wörld ✓ 日本語のテキスト 😀 "),
}

// fill repeats unit up to 1 MiB, cut on a rune boundary.
func fill(unit string) string {
	s := strings.Repeat(unit, mib/len(unit)+1)
	s = s[:mib]
	for !utf8Start(s[len(s)-1]) && len(s) > 0 {
		s = s[:len(s)-1]
	}
	return s[:len(s)-1]
}

func utf8Start(c byte) bool { return c < 0x80 || c >= 0xc0 }

// run times f b.N times, counting size bytes an op, and reports the CPU
// time an op costs (cpu-ns/op) besides wall time.
func run(b *testing.B, size int, f func()) {
	b.SetBytes(int64(size))
	b.ReportAllocs()
	before := processCPU()
	b.ResetTimer()
	for range b.N {
		f()
	}
	b.StopTimer()
	b.ReportMetric(float64((processCPU()-before).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

func largeBytes() []byte {
	b := make([]byte, mib)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

func BenchmarkMarshalString1MiB(b *testing.B) {
	for _, kind := range []string{"ascii", "prose", "nonascii"} {
		var v any = largeTexts[kind]
		b.Run(kind, func(b *testing.B) {
			run(b, mib, func() {
				if _, err := wire.Marshal(v); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

func BenchmarkMarshalBytes1MiB(b *testing.B) {
	var v any = largeBytes()
	run(b, mib, func() {
		if _, err := wire.Marshal(v); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkEncodeRequest1MiB is a call's request: the args marshalled,
// then the envelope around them.
func BenchmarkEncodeRequest1MiB(b *testing.B) {
	var v any = largeTexts["ascii"]
	run(b, mib, func() {
		raw, err := wire.Marshal(v)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := wire.AppendRequest(make([]byte, 0, len(raw)+64), wire.Request{ID: 1, Method: "echo", Args: raw}); err != nil {
			b.Fatal(err)
		}
	})
}

// reply is the worker's success reply carrying v, as Python writes it
// (non-ASCII as UTF-8, no HTML escapes).
func reply(b *testing.B, v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		b.Fatal(err)
	}
	return append(append([]byte(`{"id":1,"ok":true,"result":`), bytes.TrimSpace(buf.Bytes())...), '}')
}

func BenchmarkDecodeString1MiB(b *testing.B) {
	for _, kind := range []string{"ascii", "prose", "nonascii"} {
		s := largeTexts[kind]
		payload := reply(b, s)
		b.Run(kind, func(b *testing.B) {
			var back string
			run(b, mib, func() {
				resp, err := wire.PeekResponse(payload)
				if err != nil {
					b.Fatal(err)
				}
				if err := resp.DecodeResult(&back); err != nil {
					b.Fatal(err)
				}
			})
			if back != s {
				b.Fatal("decoded text differs")
			}
		})
	}
}

func BenchmarkDecodeBytes1MiB(b *testing.B) {
	v := largeBytes()
	payload := reply(b, v)
	var back []byte
	run(b, mib, func() {
		resp, err := wire.PeekResponse(payload)
		if err != nil {
			b.Fatal(err)
		}
		if err := resp.DecodeResult(&back); err != nil {
			b.Fatal(err)
		}
	})
	if !bytes.Equal(back, v) {
		b.Fatal("decoded bytes differ")
	}
}

// BenchmarkReadFrame1MiB reads a 1 MiB reply's frame (length check,
// payload, UTF-8 check).
func BenchmarkReadFrame1MiB(b *testing.B) {
	frame, err := wire.AppendFrame(nil, reply(b, largeTexts["ascii"]), wire.DefaultMaxFrame)
	if err != nil {
		b.Fatal(err)
	}
	r := bytes.NewReader(frame)
	run(b, mib, func() {
		r.Reset(frame)
		if _, err := wire.NewFrameReader(r, wire.DefaultMaxFrame).Next(); err != nil {
			b.Fatal(err)
		}
	})
}
