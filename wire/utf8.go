package wire

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// InvalidUTF8Error is a Go string that is not valid UTF-8 where the wire
// carries text: JSON holds Unicode only, and encoding/json would silently
// replace the bytes with U+FFFD. Nothing was sent. Bytes cross as []byte
// (base64 text, bytes again in Go; a str in Python). It matches
// ErrUnserializable.
type InvalidUTF8Error struct {
	// Where names the string: "method", "session", or the path of the
	// value inside what was encoded ("value" for the value itself,
	// `value.Name`, `value["key"]`, `value[2]`, `key "…"` of a map).
	Where string
	// Offset is the byte offset of the first invalid byte in the string.
	Offset int
	// Start is the string's start, up to a little past the invalid byte.
	Start string
}

func (e *InvalidUTF8Error) Error() string {
	return fmt.Sprintf("%s is not valid UTF-8 (byte %d of %q): JSON carries text as Unicode, "+
		"so it would reach Python changed (U+FFFD); send bytes as []byte", e.Where, e.Offset, e.Start)
}

// Is matches ErrUnserializable.
func (e *InvalidUTF8Error) Is(target error) bool { return target == ErrUnserializable }

// invalidText returns the error for s at where, or nil when s is valid UTF-8.
func invalidText(where, s string) *InvalidUTF8Error {
	if utf8.ValidString(s) {
		return nil
	}
	i := 0
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			break
		}
		i += size
	}
	end := min(len(s), i+8)
	start := s[:end]
	if end < len(s) {
		start += "..."
	}
	if i > 32 { // keep the message short: the bytes around the invalid one
		start = "..." + s[i-16:end]
		if end < len(s) {
			start += "..."
		}
	}
	return &InvalidUTF8Error{Where: where, Offset: i, Start: start}
}

// checkEnvelopeText checks the strings of a request envelope.
func checkEnvelopeText(method, session string) error {
	if err := invalidText("method", method); err != nil {
		return err
	}
	if err := invalidText("session", session); err != nil {
		return err
	}
	return nil
}

// checkReplaced returns the *InvalidUTF8Error of v, whose encoding is b,
// when encoding/json replaced bytes of one of its strings.
func checkReplaced(b []byte, v any) error {
	if !replacedText(b) {
		return nil
	}
	if err := findInvalidUTF8(reflect.ValueOf(v), "value"); err != nil {
		return err
	}
	return nil
}

// replacedText reports whether json.Marshal's output b holds the escape
// \ufffd, which it writes for bytes that are not valid UTF-8 (a valid U+FFFD
// it writes as is): only then is v walked to find the string.
func replacedText(b []byte) bool {
	for {
		i := bytes.Index(b, []byte(`\ufffd`))
		if i < 0 {
			return false
		}
		slashes := 0 // an escape, not an escaped backslash followed by "ufffd"
		for j := i - 1; j >= 0 && b[j] == '\\'; j-- {
			slashes++
		}
		if slashes%2 == 0 {
			return true
		}
		b = b[i+1:]
	}
}

var (
	jsonMarshalerType = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

// findInvalidUTF8 walks v as encoding/json encodes it and returns the first
// string (value or map key) that is not valid UTF-8, or nil. A value that
// encodes itself (json.Marshaler) is its own business; a TextMarshaler's
// text is checked. json.Marshal has succeeded on v: no cycle.
func findInvalidUTF8(v reflect.Value, path string) *InvalidUTF8Error {
	if !v.IsValid() {
		return nil
	}
	t := v.Type()
	if t.Kind() != reflect.Interface {
		if v.Kind() == reflect.Pointer && v.IsNil() {
			return nil
		}
		if implements(v, jsonMarshalerType) {
			return nil
		}
		if implements(v, textMarshalerType) {
			return invalidMarshalText(v, path)
		}
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return findInvalidUTF8(v.Elem(), path)
	case reflect.String:
		return invalidText(path, v.String())
	case reflect.Slice:
		if e := t.Elem(); e.Kind() == reflect.Uint8 && !reflect.PointerTo(e).Implements(jsonMarshalerType) &&
			!reflect.PointerTo(e).Implements(textMarshalerType) {
			return nil // base64
		}
		fallthrough
	case reflect.Array:
		for i := range v.Len() {
			if err := findInvalidUTF8(v.Index(i), path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
	case reflect.Map:
		keys := v.MapKeys()
		text := make([]string, len(keys))
		for i, k := range keys {
			text[i] = fmt.Sprint(k.Interface())
		}
		order := make([]int, len(keys))
		for i := range order {
			order[i] = i
		}
		slices.SortFunc(order, func(a, b int) int { return strings.Compare(text[a], text[b]) })
		for _, i := range order {
			k := keys[i]
			if k.Kind() == reflect.String {
				if err := invalidText(fmt.Sprintf("key %+q of %s", k.String(), path), k.String()); err != nil {
					return err
				}
			} else if k.Type().Implements(textMarshalerType) {
				if err := invalidMarshalText(k, "a key of "+path); err != nil {
					return err
				}
			}
			if err := findInvalidUTF8(v.MapIndex(k), fmt.Sprintf("%s[%+q]", path, text[i])); err != nil {
				return err
			}
		}
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" || !f.IsExported() && !(f.Anonymous && indirect(f.Type).Kind() == reflect.Struct) {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			sub := path
			if !f.Anonymous || name != "" {
				if name == "" {
					name = f.Name
				}
				sub = path + "." + name
			}
			if err := findInvalidUTF8(v.Field(i), sub); err != nil {
				return err
			}
		}
	}
	return nil
}

// implements reports whether encoding/json would call v's method of iface.
func implements(v reflect.Value, iface reflect.Type) bool {
	return v.Type().Implements(iface) || v.CanAddr() && reflect.PointerTo(v.Type()).Implements(iface)
}

func indirect(t reflect.Type) reflect.Type {
	if t.Kind() == reflect.Pointer {
		return t.Elem()
	}
	return t
}

// invalidMarshalText checks the text a TextMarshaler gives (encoding/json
// encodes it as a string).
func invalidMarshalText(v reflect.Value, path string) *InvalidUTF8Error {
	if !v.CanInterface() {
		return nil
	}
	m, ok := v.Interface().(encoding.TextMarshaler)
	if !ok && v.CanAddr() {
		m, ok = v.Addr().Interface().(encoding.TextMarshaler)
	}
	if !ok {
		return nil
	}
	text, err := m.MarshalText()
	if err != nil {
		return nil
	}
	return invalidText(path, string(text))
}
