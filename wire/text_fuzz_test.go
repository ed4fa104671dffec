package wire_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pyharness/pyharness/wire"
)

// FuzzText checks the bulk paths for strings and bytes against
// encoding/json: Marshal of a string gives json.Marshal's bytes (or an
// *InvalidUTF8Error where json.Marshal writes U+FFFD), and Unmarshal into a
// string, a []byte or an interface gives what encoding/json gives, error for
// error.
func FuzzText(f *testing.F) {
	for _, s := range tricky {
		f.Add(s)
		raw, _ := json.Marshal(s)
		f.Add(string(raw))
	}
	f.Add(`"\ud83d\ude00 \ud800 \u00e9 \/ \"q\" \\"`)
	f.Add(`"aGVsbG8gd29ybGQ="`)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := wire.Marshal(s)
		want, _ := json.Marshal(s)
		switch {
		case !utf8.ValidString(s):
			if err == nil {
				t.Fatalf("Marshal(%q) = %s, want an *InvalidUTF8Error", s, got)
			}
		case err != nil || !bytes.Equal(got, want):
			t.Fatalf("Marshal(%q) = %s, %v; json.Marshal gives %s", s, got, err, want)
		}
		for _, data := range []string{s, `"` + s + `"`} {
			sameDecode[string](t, data)
			sameDecode[[]byte](t, data)
			sameDecode[any](t, data)
		}
	})
}

func sameDecode[T any](t *testing.T, data string) {
	var want, got T
	dec := json.NewDecoder(strings.NewReader(data))
	dec.UseNumber()
	wantErr := dec.Decode(&want)
	if wantErr == nil && strings.TrimSpace(data[dec.InputOffset():]) != "" {
		return // data after the value: json.NewDecoder is not json.Unmarshal here
	}
	err := wire.Unmarshal([]byte(data), &got)
	if (err == nil) != (wantErr == nil) {
		t.Fatalf("Unmarshal(%q) into %T: error %v, encoding/json's %v", data, got, err, wantErr)
	}
	if err == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("Unmarshal(%q) into %T = %#v, encoding/json gives %#v", data, got, got, want)
	}
}
