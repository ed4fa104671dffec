package contract

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"

	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness"
	"github.com/pyharness/pyharness/wire"
)

// Large values (PROTOCOL.md, Segmented frames): strings and []byte from
// wire.SegmentMin bytes on travel as raw segments between a Go side and a
// worker that both read them; what a handler sees and what Go decodes is
// what a plain frame gives.

// largeSize is 64 times wire.SegmentMin: far past the threshold, and more
// than a socket's buffer holds, so a frame is read and written in pieces
// ("round-trips a 1 MB string" covers the megabyte).
const largeSize = 256 << 10

// largeOf repeats unit to about n bytes, cut on a rune boundary.
func largeOf(unit string, n int) string {
	return strings.ToValidUTF8(strings.Repeat(unit, n/len(unit)+1)[:n], "")
}

// largeBytes is n bytes of every value.
func largeBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

func init() {
	Behaviours = append(Behaviours,
		Behaviour{"round-trips a large string both ways: ASCII, text that needs escapes, multi-byte UTF-8", func(ctx context.Context, py pyharness.Interpreter) {
			roundTrip(ctx, py, strings.Repeat("x", largeSize))
			roundTrip(ctx, py, largeOf("He said \"hi\" \\ then <left> & a tab\t, a newline\n, a \x01 and \u2028. ", largeSize))
			roundTrip(ctx, py, largeOf("héllo wörld ✓ 日本語 😀 ", largeSize))
			var back any
			Expect(py.Call(ctx, "echo", strings.Repeat("y", largeSize), &back)).To(Succeed())
			Expect(back).To(Equal(strings.Repeat("y", largeSize)), "into an interface: a string")
			var big string
			Expect(py.Call(ctx, "big", largeSize, &big)).To(Succeed())
			Expect(big).To(Equal(strings.Repeat("x", largeSize)), "made by the worker, not echoed")
			alive(ctx, py)
		}},
		Behaviour{"round-trips large bytes both ways, which handlers see as their base64 text", func(ctx context.Context, py pyharness.Interpreter) {
			value := largeBytes(largeSize)
			roundTrip(ctx, py, value)
			var text string
			Expect(py.Call(ctx, "echo", value, &text)).To(Succeed())
			Expect(text).To(Equal(base64.StdEncoding.EncodeToString(value)))
			var n int
			Expect(py.Call(ctx, "length", value, &n)).To(Succeed())
			Expect(n).To(Equal(base64.StdEncoding.EncodedLen(largeSize)), "the handler's str is the base64 text")
			alive(ctx, py)
		}},
		Behaviour{"round-trips large values nested in maps and lists, among small ones", func(ctx context.Context, py pyharness.Interpreter) {
			text, prose := strings.Repeat("a", largeSize/2), largeOf("line\n\"quoted\" ✓\t", largeSize/2)
			blob := largeBytes(largeSize / 4)
			args := map[string]any{
				"text":  text,
				"list":  []any{prose, 1, "small", nil, []any{text}},
				"bytes": blob,
				"inner": map[string]any{"again": prose, "ok": true},
				"names": []string{"short", text},
				"tags":  map[string]string{"long": prose},
			}
			var back map[string]any
			Expect(py.Call(ctx, "echo", args, &back)).To(Succeed())
			Expect(back).To(Equal(map[string]any{
				"text":  text,
				"list":  []any{prose, json.Number("1"), "small", nil, []any{text}},
				"bytes": base64.StdEncoding.EncodeToString(blob),
				"inner": map[string]any{"again": prose, "ok": true},
				"names": []any{"short", text},
				"tags":  map[string]any{"long": prose},
			}))
			type doc struct {
				Title string   `json:"title"`
				Parts []string `json:"parts"`
				Blob  []byte   `json:"blob"`
			}
			roundTrip(ctx, py, doc{Title: "t", Parts: []string{prose, text}, Blob: blob})
			alive(ctx, py)
		}},
		Behaviour{"streams large items, strings and nested, whole", func(ctx context.Context, py pyharness.Interpreter) {
			text := largeOf("item \"one\"\n✓ ", largeSize)
			var items []string
			for v, err := range wire.Items[string](streamer(py).Stream(ctx, "echo", text)) {
				Expect(err).NotTo(HaveOccurred())
				items = append(items, v)
			}
			Expect(items).To(Equal([]string{text}))
			var nested []map[string][]string
			for v, err := range wire.Items[map[string][]string](streamer(py).Stream(ctx, "echo", map[string]any{"k": []any{text, "x"}})) {
				Expect(err).NotTo(HaveOccurred())
				nested = append(nested, v)
			}
			Expect(nested).To(Equal([]map[string][]string{{"k": {text, "x"}}}))
			alive(ctx, py)
		}},
		Behaviour{"carries large args into a Go function a handler calls, and its large result back", func(ctx context.Context, py pyharness.Interpreter) {
			text := largeOf("cb \"x\"\n✓ ", largeSize)
			ctx = wire.WithCallbacks(ctx, map[string]wire.Callback{
				"twice": wire.CallbackFunc(func(_ context.Context, args struct{ Text string }) (string, error) {
					return args.Text + args.Text, nil
				}),
			})
			var reply struct{ Answer string }
			Expect(py.Call(ctx, "ask", map[string]any{"name": "twice", "args": map[string]any{"text": text}}, &reply)).To(Succeed())
			Expect(reply.Answer).To(Equal(text + text))
			alive(ctx, py)
		}},
		Behaviour{"round-trips strings and bytes at the segment threshold and on either side of it", func(ctx context.Context, py pyharness.Interpreter) {
			for _, n := range []int{wire.SegmentMin - 1, wire.SegmentMin, wire.SegmentMin + 1} {
				roundTrip(ctx, py, strings.Repeat("z", n))
				roundTrip(ctx, py, strings.Repeat("z", n-2)+"é") // the threshold inside a rune
				roundTrip(ctx, py, largeBytes(n))
				roundTrip(ctx, py, []any{strings.Repeat("q", n), "tail"})
			}
			roundTrip(ctx, py, strings.Repeat("é", wire.SegmentMin)) // as many runes as the threshold, twice its bytes
			alive(ctx, py)
		}},
		Behaviour{"refuses a large Go string that is not valid UTF-8 before sending, and a large result with a lone surrogate is unserializable", func(ctx context.Context, py pyharness.Interpreter) {
			err := py.Call(ctx, "echo", strings.Repeat("x", largeSize)+"caf\xe9", nil)
			var bad *wire.InvalidUTF8Error
			Expect(errors.As(err, &bad)).To(BeTrue(), "want a *wire.InvalidUTF8Error, got %v", err)
			Expect(bad.Where).To(Equal("value"))
			Expect(bad.Offset).To(Equal(largeSize + 3))
			err = py.Call(ctx, "echo", map[string]any{"text": strings.Repeat("x", largeSize) + "\xff"}, nil)
			Expect(errors.As(err, &bad)).To(BeTrue(), "want a *wire.InvalidUTF8Error, got %v", err)
			Expect(bad.Where).To(Equal(`value["text"]`))
			alive(ctx, py)

			err = py.Call(ctx, "large_surrogate", largeSize, nil)
			Expect(err).To(MatchError(wire.ErrUnserializable))
			Expect(pythonError(err).Kind).To(Equal(wire.KindUnserializable))
			alive(ctx, py)
		}},
	)
}
