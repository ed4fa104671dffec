// Helpers the fuzz targets share with the specs: this file and the fuzz
// targets build without Ginkgo (-tags pyharness_fuzz, as ci/run fuzzes).

package wire_test

import "encoding/binary"

// segmented builds a segmented payload (no length prefix) by hand.
func segmented(env string, kinds string, segs ...string) []byte {
	out := []byte{0x00} // the marker
	out = binary.BigEndian.AppendUint32(out, uint32(len(env)))
	out = binary.BigEndian.AppendUint32(out, uint32(len(segs)))
	for i, s := range segs {
		out = append(out, kinds[i])
		out = binary.BigEndian.AppendUint32(out, uint32(len(s)))
	}
	out = append(out, env...)
	for _, s := range segs {
		out = append(out, s...)
	}
	return out
}

// tricky are strings whose every byte class the bulk paths treat apart:
// each is also tried at every offset modulo 8 inside a longer text, so the
// special byte falls in every position of a scanned word.
var tricky = []string{
	"plain", "", "\x00", "\x1f", " ", "\x7f", `"`, `\`, "<", ">", "&", "'", "/",
	"\b\f\n\r\t", "\u2028", "\u2029", "\u2027\u202a", "✓ — “quoted”", "héllo, 世界 🙂",
	"\xe2", "\xe2\x80", "a\xe2\x80\xa8b", "\u00e2\x80\xa8",
}
