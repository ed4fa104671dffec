// Values decoded without encoding/json: the fast paths of Unmarshal for
// ints, floats, booleans, strings and bytes.

package wire

import (
	"reflect"
	"strconv"
	"unsafe"
)

// quickUnmarshal decodes data into v on a bulk path (a string into a
// *string or an empty *any, base64 text into a *[]byte), as json.Unmarshal
// would; false leaves it to the general path.
func quickUnmarshal(data []byte, v any) bool {
	switch p := v.(type) {
	case *string:
		if p != nil {
			s, ok := quickString(data)
			if ok {
				*p = s
			}
			return ok
		}
	case *[]byte:
		if p != nil {
			b, ok := quickBytes(data)
			if ok {
				*p = b
			}
			return ok
		}
	case *int:
		if p != nil {
			n, ok := quickInt(data, strconv.IntSize)
			if ok {
				*p = int(n)
			}
			return ok
		}
	case *int64:
		if p != nil {
			n, ok := quickInt(data, 64)
			if ok {
				*p = n
			}
			return ok
		}
	case *float64:
		if p != nil {
			f, ok := quickFloat(data)
			if ok {
				*p = f
			}
			return ok
		}
	case *bool:
		if p != nil {
			switch string(trimSpace(data)) {
			case "true":
				*p = true
				return true
			case "false":
				*p = false
				return true
			}
		}
	case *any:
		// json.Unmarshal decodes into a non-nil pointer the interface
		// holds: only an interface without one is simply replaced.
		if p != nil && (*p == nil || reflect.TypeOf(*p).Kind() != reflect.Pointer) {
			s, ok := quickString(data)
			if ok {
				*p = s
			}
			return ok
		}
	}
	return false
}

// quickInt parses data when it is a JSON integer that fits bits (what
// json.Unmarshal gives for an int of that size); ok is false otherwise,
// and the general decoder says why.
func quickInt(data []byte, bits int) (int64, bool) {
	data = trimSpace(data)
	digits := data
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 || len(digits) > 19 || digits[0] == '0' && len(digits) > 1 {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(unsafe.String(&data[0], len(data)), 10, bits) // no copy: the error, which would keep it, is dropped
	return n, err == nil
}

// quickFloat parses data when it is a JSON number (json.Unmarshal's
// float64); ok is false otherwise.
func quickFloat(data []byte) (float64, bool) {
	data = trimSpace(data)
	if !isJSONNumber(data) {
		return 0, false
	}
	f, err := strconv.ParseFloat(unsafe.String(&data[0], len(data)), 64) // no copy: see quickInt
	return f, err == nil
}

// isJSONNumber reports whether b is a number in JSON's grammar.
func isJSONNumber(b []byte) bool {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	return i == len(b)
}
