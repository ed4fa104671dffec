//go:build !pyharness_fuzz

package wire_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"runtime"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/wire"
)

// bytesPerRun is how many bytes f allocates a run, on average: unlike a
// count of allocations, it is not thrown by the small ones other goroutines
// make meanwhile (a parallel run's reporter).
func bytesPerRun(f func()) int {
	const runs, tries = 5, 5
	f() // warm
	// MemStats counts every goroutine's allocations (under -race, the
	// runtime's and Ginkgo's own now and then): what f allocates is the
	// same every run, what others do only adds, so the least of a few
	// measurements is f's.
	least := -1
	for range tries {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range runs {
			f()
		}
		runtime.ReadMemStats(&after)
		if n := int(after.TotalAlloc-before.TotalAlloc) / runs; least < 0 || n < least {
			least = n
		}
		if least == 0 {
			break
		}
	}
	return least
}

// atEveryOffset puts s after 0 to 8 bytes of plain text, inside plain text,
// after ASCII only and after a multi-byte character (the scans check UTF-8
// as they go until the first byte beyond ASCII, then test any byte).
func atEveryOffset(s string) []string {
	var out []string
	for _, lead := range []string{"", "é", "日本"} {
		for pad := range 9 {
			out = append(out, lead+strings.Repeat("p", pad)+s+strings.Repeat("q", 11)+"日")
		}
	}
	return out
}

// marshalsAsJSON asserts that wire.Marshal gives what json.Marshal gives.
func marshalsAsJSON(v any) {
	GinkgoHelper()
	want, err := json.Marshal(v)
	Expect(err).NotTo(HaveOccurred())
	got, err := wire.Marshal(v)
	Expect(err).NotTo(HaveOccurred())
	Expect(string(got)).To(Equal(string(want)))
}

// unmarshalsAsJSON asserts that wire.Unmarshal decodes data into a new T as
// json.Unmarshal does (numbers in an interface as json.Number): the same value, or an error for the same input.
func unmarshalsAsJSON[T any](data string) {
	GinkgoHelper()
	var want, got T
	dec := json.NewDecoder(strings.NewReader(data))
	dec.UseNumber() // as wire.Unmarshal decodes into an interface
	wantErr := dec.Decode(&want)
	if wantErr == nil && strings.TrimSpace(data[dec.InputOffset():]) != "" {
		wantErr = errors.New("data after the value")
	}
	err := wire.Unmarshal([]byte(data), &got)
	if wantErr != nil {
		var decodeErr *wire.DecodeError
		Expect(errors.As(err, &decodeErr)).To(BeTrue(), "%q: want a *wire.DecodeError, got %v", data, err)
		return
	}
	Expect(err).NotTo(HaveOccurred(), "%q", data)
	Expect(reflect.DeepEqual(got, want)).To(BeTrue(), "%q: got %#v, want %#v", data, got, want)
}

var _ = Describe("Bulk paths for strings and bytes", func() {
	It("marshal every byte class of a string as encoding/json does, wherever it falls in a word", func() {
		for _, s := range tricky {
			if !json.Valid([]byte(`"`+strings.ToValidUTF8(s, "")+`"`)) && s == strings.ToValidUTF8(s, "") {
				continue // not a case of its own
			}
			for _, in := range atEveryOffset(strings.ToValidUTF8(s, "")) {
				marshalsAsJSON(in)
			}
		}
		for c := range 0x80 {
			marshalsAsJSON(strings.Repeat("a", c%8) + string(rune(c)) + "tail of plain text")
		}
	})

	It("refuse a string that is not UTF-8 with an *InvalidUTF8Error, wherever the bad byte is", func() {
		for pad := range 9 {
			_, err := wire.Marshal(strings.Repeat("p", pad) + "\xe2\x80" + strings.Repeat("q", 11))
			invalidUTF8(err, "value", pad)
		}
	})

	It("marshal bytes as encoding/json does (base64, nil as null)", func() {
		for _, b := range [][]byte{nil, {}, {0}, []byte("ab"), []byte("abc"), []byte(strings.Repeat("\xff\x00<", 100))} {
			marshalsAsJSON(b)
		}
	})

	It("unmarshal strings, bytes and empty interfaces as encoding/json does", func() {
		var cases []string
		for _, s := range tricky {
			raw, _ := json.Marshal(s) // escaped as Go writes it
			cases = append(cases, string(raw), `"`+s+`"`)
			for _, in := range atEveryOffset(s) {
				cases = append(cases, `"`+in+`"`)
			}
		}
		cases = append(cases,
			`"\ud83d\ude00"`, `"\ud800"`, `"\udc00x"`, `"\ud800\u0041"`, `"\ud800\ud800"`, // surrogates
			`"\u00e9\u0000\u001F\u2028"`, `"\/"`, `"\'"`, `"\x"`, `"\u12"`, `"\u12g4"`, `"a\"`, `"a\\"`,
			"\"\x01\"", "\"a\nb\"", `"a"b"`, ` "padded" `, "\t\"x\"\r\n", `"`, `""`, `null`, `1`, `["x"]`, `"x" "y"`,
			`"AAEC"`, `"AAE="`, `"AAE"`, `"A@=="`, `"aGVsbG8gd29ybGQ="`, `"aGVs\/bG8="`, // base64
		)
		for _, data := range cases {
			unmarshalsAsJSON[string](data)
			unmarshalsAsJSON[[]byte](data)
			unmarshalsAsJSON[any](data)
		}
	})

	It("decode into the pointer an interface holds, as encoding/json does", func() {
		var s string
		var v any = &s
		Expect(wire.Unmarshal([]byte(`"into the pointer"`), &v)).To(Succeed())
		Expect(s).To(Equal("into the pointer"))
		Expect(v).To(Equal(&s))
		v = 42
		Expect(wire.Unmarshal([]byte(`"replaced"`), &v)).To(Succeed())
		Expect(v).To(Equal("replaced"))
	})

	It("report a nil *string as a decode error, not a panic", func() {
		var p *string
		err := wire.Unmarshal([]byte(`"text"`), p)
		var decodeErr *wire.DecodeError
		Expect(errors.As(err, &decodeErr)).To(BeTrue(), "got %v", err)
	})

	It("validate a string result as json.Valid does (Check)", func() {
		for _, result := range []string{`"ok"`, `"a\nb\u00e9"`, "\"raw\ncontrol\"", `"a"b"`, `"\q"`, `"\u12"`, `"a\"`, `"\ud800"`} {
			payload := `{"id":1,"ok":true,"result":` + result + `}`
			resp, err := wire.PeekResponse([]byte(payload))
			Expect(err).NotTo(HaveOccurred())
			if json.Valid([]byte(result)) {
				Expect(resp.Check()).To(Succeed(), result)
				Expect(wire.DecodeResponse([]byte(payload))).To(HaveField("Result", json.RawMessage(result)))
			} else {
				Expect(resp.Check()).To(MatchError(wire.ErrProtocol), result)
				_, err := wire.DecodeResponse([]byte(payload))
				Expect(err).To(MatchError(wire.ErrProtocol), result)
			}
		}
	})

	It("encode and decode a 1 MiB text with escapes into one buffer each way", func() {
		text := strings.Repeat("He said \"hello\" to everyone in the room, then left.\n", 1<<20/56)
		var v any = text // boxed once, outside the count
		raw, err := wire.Marshal(v)
		Expect(err).NotTo(HaveOccurred())
		Expect(bytesPerRun(func() { _, _ = wire.Marshal(v) })).To(BeNumerically("<", len(text)*5/4), "Marshal")
		var back string
		Expect(wire.Unmarshal(raw, &back)).To(Succeed())
		Expect(back).To(Equal(text))
		Expect(bytesPerRun(func() { _ = wire.Unmarshal(raw, &back) })).To(BeNumerically("<", len(text)*5/4), "Unmarshal")
	})
})
