package wire

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// Bulk paths for large strings and bytes: the bytes that need no escaping
// are found eight at a time (SWAR: a word's bytes tested at once with
// integer arithmetic) and copied in runs, so a value of plain text costs a
// UTF-8 check, a scan and a copy instead of encoding/json's work per byte.
// The output is byte for byte what encoding/json gives, and input the fast
// paths do not handle (a surrogate escape, anything malformed) is left to
// encoding/json, so that errors and replacements stay its own.

const (
	lsb = 0x0101010101010101 // the lowest bit of every byte of a word
	msb = 0x8080808080808080 // the highest bit of every byte of a word
)

// load64 reads s[i:i+8] as a little-endian word (the compiler makes it one
// load).
func load64[T string | []byte](s T, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}

// The word tests below assume nothing of a word's bytes at or above 0x80:
// a word with such a byte fails the test (x itself is or'ed in), and for a
// word of ASCII bytes each test is exact, so a word that passes holds no
// byte the test looks for.

// asciiAbove31 is zero exactly when every byte of x is in 0x20-0x7f.
func asciiAbove31(x uint64) uint64 { return ((x - lsb*0x20) | x) & msb }

// eq7 has the high bit of a byte set where a byte of x, all ASCII, is c
// (and maybe above: only whether it is zero counts).
func eq7(x uint64, c byte) uint64 { return (x ^ lsb*uint64(c)) - lsb }

// plainQuoteWord reports whether the 8 bytes of x are ASCII that
// encoding/json copies as they are: no control character, '"', '\', '<',
// '>' or '&'.
func plainQuoteWord(x uint64) bool {
	// '"' (0x22) and '&' (0x26) differ in bit 2 only, '<' (0x3c) and '>'
	// (0x3e) in bit 1 only: one test covers each pair.
	return (asciiAbove31(x)|eq7(x|lsb*0x04, 0x26)|eq7(x|lsb*0x02, 0x3e)|eq7(x, '\\'))&msb == 0
}

// plainUnquoteWord reports whether the 8 bytes of x are ASCII that a JSON
// string carries as they are: no control character, '"' or '\\'.
func plainUnquoteWord(x uint64) bool {
	return (asciiAbove31(x)|eq7(x, '"')|eq7(x, '\\'))&msb == 0
}

// The same tests for words that may hold any byte, for text already known
// to be valid UTF-8: exact, at a few more operations a word.

// hasZero is non-zero exactly when some byte of x is zero.
func hasZero(x uint64) uint64 { return (x - lsb) & ^x & msb }

// hasLess is non-zero exactly when some byte of x is below n (n <= 128).
func hasLess(x uint64, n byte) uint64 { return (x - lsb*uint64(n)) & ^x & msb }

// plainQuoteUTF8Word is plainQuoteWord for valid UTF-8: bytes at or above
// 0x80 pass, but for 0xE2, the first byte of U+2028 and U+2029 (which
// encoding/json escapes).
func plainQuoteUTF8Word(x uint64) bool {
	return hasLess(x, 0x20)|hasZero((x|lsb*0x04)^lsb*0x26)|hasZero((x|lsb*0x02)^lsb*0x3e)|
		hasZero(x^lsb*'\\')|hasZero(x^lsb*0xe2) == 0
}

// plainUnquoteUTF8Word is plainUnquoteWord for valid UTF-8.
func plainUnquoteUTF8Word(x uint64) bool {
	return hasLess(x, 0x20)|hasZero(x^lsb*'"')|hasZero(x^lsb*'\\') == 0
}

// quoteSpecial reports whether ASCII byte c needs an escape from
// encoding/json (HTML escaping on).
func quoteSpecial(c byte) bool {
	return c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&'
}

// unquoteSpecial reports whether ASCII byte c ends a run of a JSON
// string's text: its closing quote, an escape, or a control character
// (invalid).
func unquoteSpecial(c byte) bool { return c < 0x20 || c == '"' || c == '\\' }

const hexDigits = "0123456789abcdef"

// appendQuoted appends s as encoding/json quotes it (HTML escaping on),
// checking its UTF-8 on the way: bad is -1, or, when s is not valid UTF-8
// (where encoding/json writes U+FFFD), an offset at or before the first
// invalid byte. ASCII is
// checked as it is scanned; at the first byte beyond it the rest is
// checked at once (utf8.ValidString), and the scan goes on over any byte.
func appendQuoted(dst []byte, s string) (out []byte, bad int) {
	dst = append(dst, '"')
	start, i, utf8Checked := 0, 0, false
	for i < len(s) {
		if utf8Checked {
			for i+8 <= len(s) && plainQuoteUTF8Word(load64(s, i)) {
				i += 8
			}
		} else {
			for i+8 <= len(s) && plainQuoteWord(load64(s, i)) {
				i += 8
			}
		}
		if i == len(s) {
			break
		}
		c := s[i]
		if c >= utf8.RuneSelf {
			if !utf8Checked {
				if !utf8.ValidString(s[i:]) {
					return dst, i
				}
				utf8Checked = true
			}
			// In valid UTF-8, 0xE2 always starts a 3-byte sequence.
			if c == 0xe2 && s[i+1] == 0x80 && (s[i+2] == 0xa8 || s[i+2] == 0xa9) { // U+2028, U+2029
				dst = append(dst, s[start:i]...)
				dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[s[i+2]&0xf])
				i += 3
				start = i
				continue
			}
			i++
			continue
		}
		if !quoteSpecial(c) {
			i++
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '\\', '"':
			dst = append(dst, '\\', c)
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default: // other control characters, '<', '>', '&'
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"'), -1
}

// marshalString is Marshal for a string: what json.Marshal gives, or an
// *InvalidUTF8Error where json.Marshal would have written U+FFFD.
func marshalString(s string) (json.RawMessage, error) {
	b, bad := appendQuoted(make([]byte, 0, len(s)+2+len(s)/8), s)
	if bad >= 0 {
		return nil, invalidText("value", s)
	}
	return b, nil
}

// marshalBytes is Marshal for a []byte: base64 text, as json.Marshal gives.
func marshalBytes(b []byte) json.RawMessage {
	if b == nil {
		return json.RawMessage("null")
	}
	dst := make([]byte, 0, base64.StdEncoding.EncodedLen(len(b))+2)
	dst = append(dst, '"')
	dst = base64.StdEncoding.AppendEncode(dst, b)
	return append(dst, '"')
}

// stringBody returns the part of data between the quotes when data is one
// JSON string (white space around it allowed); ok is false otherwise, or
// when the string needs what the fast paths leave to encoding/json.
func stringBody(data []byte) (body []byte, ok bool) {
	data = trimSpace(data)
	if len(data) < 2 || data[0] != '"' || data[len(data)-1] != '"' {
		return nil, false
	}
	return data[1 : len(data)-1], true
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// textScan finds the runs of a JSON string's text, checking its UTF-8 on
// the way: ASCII as it is scanned; at the first byte beyond it the rest at
// once (utf8.Valid), after which the scan goes on over any byte.
type textScan struct {
	b       []byte
	checked bool // b[i:] is known valid UTF-8
}

// next returns the index of the first byte at or after i that ends a run
// of text ('"', '\\', a control character), or len(b); ok is false when the
// text from there on is not valid UTF-8.
func (t *textScan) next(i int) (end int, ok bool) {
	b := t.b
	for i < len(b) {
		if t.checked {
			for i+8 <= len(b) && plainUnquoteUTF8Word(load64(b, i)) {
				i += 8
			}
		} else {
			for i+8 <= len(b) && plainUnquoteWord(load64(b, i)) {
				i += 8
			}
		}
		if i == len(b) {
			break
		}
		c := b[i]
		if c >= utf8.RuneSelf {
			if !t.checked {
				if !utf8.Valid(b[i:]) {
					return i, false
				}
				t.checked = true
			}
			i++
			continue
		}
		if unquoteSpecial(c) {
			return i, true
		}
		i++
	}
	return i, true
}

// quickString decodes data when it is one JSON string in valid UTF-8 whose
// escapes are all simple (\" \\ \/ \b \f \n \r \t, or \uXXXX outside the
// surrogates), as encoding/json decodes it; ok is false for anything else
// (left to encoding/json, which also says what is wrong).
func quickString(data []byte) (string, bool) {
	body, ok := stringBody(data)
	if !ok {
		return "", false
	}
	scan := textScan{b: body}
	i, ok := scan.next(0)
	if !ok {
		return "", false // encoding/json replaces invalid bytes with U+FFFD
	}
	if i == len(body) {
		return string(body), true // no escape: one copy
	}
	var out strings.Builder
	out.Grow(len(body)) // an escape is never shorter than what it decodes to
	start := 0
	for i < len(body) {
		if body[i] != '\\' || i+1 == len(body) {
			return "", false // a quote inside, or a control character
		}
		out.Write(body[start:i])
		switch e := body[i+1]; e {
		case '"', '\\', '/':
			out.WriteByte(e)
		case 'b':
			out.WriteByte('\b')
		case 'f':
			out.WriteByte('\f')
		case 'n':
			out.WriteByte('\n')
		case 'r':
			out.WriteByte('\r')
		case 't':
			out.WriteByte('\t')
		case 'u':
			r, ok := hex4(body[i+2:])
			if !ok || r >= 0xd800 && r < 0xe000 {
				return "", false // surrogates: encoding/json pairs or replaces them
			}
			out.WriteRune(r)
			i += 4
		default:
			return "", false
		}
		i += 2
		start = i
		if i, ok = scan.next(i); !ok {
			return "", false
		}
	}
	out.Write(body[start:])
	return out.String(), true
}

// hex4 decodes the four hex digits that start b.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// quickBytes decodes data when it is one JSON string of base64 text with no
// escape, as encoding/json decodes it into a []byte; ok is false for
// anything else (null, escapes, bad base64: left to encoding/json).
func quickBytes(data []byte) ([]byte, bool) {
	body, ok := stringBody(data)
	if !ok {
		return nil, false
	}
	scan := textScan{b: body}
	if end, ok := scan.next(0); !ok || end != len(body) {
		return nil, false
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(body)))
	n, err := base64.StdEncoding.Decode(out, body)
	if err != nil {
		return nil, false
	}
	return out[:n], true
}

// validString reports whether data is one valid JSON string (white space
// around it allowed), checked in bulk; false may also mean "not sure": the
// caller asks json.Valid then.
func validString(data []byte) bool {
	body, ok := stringBody(data)
	if !ok {
		return false
	}
	scan := textScan{b: body}
	i, ok := scan.next(0)
	for ok && i < len(body) {
		if body[i] != '\\' || i+1 == len(body) {
			return false
		}
		switch body[i+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			i += 2
		case 'u':
			if _, ok := hex4(body[i+2:]); !ok {
				return false
			}
			i += 6
		default:
			return false
		}
		i, ok = scan.next(i)
	}
	return ok
}

// validJSON is json.Valid, with a bulk path for a string.
func validJSON(data []byte) bool { return validString(data) || json.Valid(data) }
