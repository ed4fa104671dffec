package mockpy

import (
	"encoding/json"
	"math/big"
	"reflect"
	"strconv"
	"strings"
)

// pythonNumbers rewrites, in place, every json.Number that decoding put in
// an interface value inside *v into the Go number a Python handler's value
// corresponds to: an integer literal is an int when it fits, else a
// *big.Int (every digit kept); any other literal (a fraction or an
// exponent) is a float64. Fields typed json.Number are left as they are.
func pythonNumbers(v any) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return
	}
	fixValue(rv.Elem(), 0)
}

func fixValue(v reflect.Value, depth int) {
	if depth > 1100 { // deeper than any args the mock accepts
		return
	}
	switch v.Kind() {
	case reflect.Interface:
		if v.IsNil() {
			return
		}
		if fixed, ok := fixDynamic(v.Elem().Interface(), depth); ok && v.CanSet() {
			v.Set(reflect.ValueOf(&fixed).Elem())
		}
	case reflect.Pointer:
		if !v.IsNil() {
			fixValue(v.Elem(), depth+1)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fixValue(v.Field(i), depth+1)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			fixValue(v.Index(i), depth+1)
		}
	case reflect.Map:
		if v.Type().Elem().Kind() != reflect.Interface {
			if holdsInterfaceValue(v.Type().Elem()) {
				for _, k := range v.MapKeys() {
					e := reflect.New(v.Type().Elem()).Elem()
					e.Set(v.MapIndex(k))
					fixValue(e, depth+1)
					v.SetMapIndex(k, e)
				}
			}
			return
		}
		for _, k := range v.MapKeys() {
			e := v.MapIndex(k)
			if e.IsNil() {
				continue
			}
			if fixed, ok := fixDynamic(e.Elem().Interface(), depth); ok {
				v.SetMapIndex(k, reflect.ValueOf(&fixed).Elem())
			}
		}
	}
}

// fixDynamic converts what an interface holds: a json.Number, or the maps
// and slices decoding makes (whose elements it converts in place).
func fixDynamic(x any, depth int) (any, bool) {
	switch x := x.(type) {
	case json.Number:
		return pythonNumber(x), true
	case map[string]any:
		for k, e := range x {
			if fixed, ok := fixDynamic(e, depth+1); ok {
				x[k] = fixed
			}
		}
	case []any:
		for i, e := range x {
			if fixed, ok := fixDynamic(e, depth+1); ok {
				x[i] = fixed
			}
		}
	}
	return nil, false
}

func holdsInterfaceValue(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Interface:
		return true
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
		return holdsInterfaceValue(t.Elem())
	case reflect.Struct:
		return true // cheap enough to walk
	}
	return false
}

// pythonNumber is the Go number of a JSON number literal, as Python's json
// module reads it (int for integer literals, float for the rest).
func pythonNumber(n json.Number) any {
	s := string(n)
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, strconv.IntSize); err == nil {
			return int(i)
		}
		if b, ok := new(big.Int).SetString(s, 10); ok {
			return b
		}
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return f
	}
	return n
}
