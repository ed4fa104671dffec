// Values: Marshal and Unmarshal, with the protocol's rules (PROTOCOL.md,
// Values).

package wire

import (
	"bytes"
	"encoding/json"
	"reflect"
	"sync"
)

// Marshal encodes v as the wire would carry it. Values JSON cannot carry
// (channels, functions, NaN, infinities, cycles) give an *EncodeError, a
// string that is not valid UTF-8 an *InvalidUTF8Error; both match
// ErrUnserializable.
func Marshal(v any) (json.RawMessage, error) {
	switch x := v.(type) { // the bulk paths (text.go): what json.Marshal gives
	case string:
		return marshalString(x)
	case []byte:
		return marshalBytes(x), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, &EncodeError{Err: err}
	}
	if err := checkReplaced(b, v); err != nil {
		return nil, err // json.Marshal would have sent U+FFFD (utf8.go)
	}
	return b, nil
}

// Unmarshal decodes data into v exactly: numbers decoded into an interface
// become json.Number, so integers beyond 2^53 keep every digit.
func Unmarshal(data []byte, v any) error {
	if v == nil {
		return nil
	}
	if quickUnmarshal(data, v) {
		return nil // what json.Unmarshal gives, without its two scans of a large text
	}
	if !holdsInterface(reflect.TypeOf(v)) {
		// No interface inside: nothing can become a float64 by default, and
		// json.Unmarshal is cheaper than a Decoder.
		if err := json.Unmarshal(data, v); err != nil {
			return &DecodeError{Err: err}
		}
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return &DecodeError{Err: err}
	}
	if len(bytes.TrimSpace(data[dec.InputOffset():])) > 0 {
		return &DecodeError{Err: errTrailing}
	}
	return nil
}

// interfaceTypes memoises holdsInterface: a type's shape never changes.
var interfaceTypes sync.Map // reflect.Type -> bool

// holdsInterface reports whether decoding into t can create an interface
// value (and so needs json.Number to keep numbers exact).
func holdsInterface(t reflect.Type) bool {
	if t == nil {
		return true
	}
	if v, ok := interfaceTypes.Load(t); ok {
		return v.(bool)
	}
	interfaceTypes.Store(t, true) // while recursing: assume the worst for cycles
	result := computeHoldsInterface(t)
	interfaceTypes.Store(t, result)
	return result
}

func computeHoldsInterface(t reflect.Type) bool {
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return false // decodes itself (big.Int, time.Time, ...)
	}
	switch t.Kind() {
	case reflect.Interface:
		return true
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return holdsInterface(t.Elem())
	case reflect.Map:
		return holdsInterface(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() && holdsInterface(f.Type) {
				return true
			}
		}
	}
	return false
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
