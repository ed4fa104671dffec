//go:build !pyharness_fuzz

package wire_test

import (
	"encoding/json"
	"errors"
	"net"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/wire"
)

// invalidUTF8 asserts that err is an *InvalidUTF8Error naming where and offset.
func invalidUTF8(err error, where string, offset int) {
	GinkgoHelper()
	var bad *wire.InvalidUTF8Error
	Expect(errors.As(err, &bad)).To(BeTrue(), "want a *wire.InvalidUTF8Error, got %v", err)
	Expect(errors.Is(err, wire.ErrUnserializable)).To(BeTrue())
	Expect(bad.Where).To(Equal(where))
	Expect(bad.Offset).To(Equal(offset))
}

var _ = Describe("Strings that are not valid UTF-8", func() {
	It("are refused by Marshal, naming where the string is and its first invalid byte", func() {
		_, err := wire.Marshal("ab\xffc")
		invalidUTF8(err, "value", 2)
		Expect(err.Error()).To(Equal(`value is not valid UTF-8 (byte 2 of "ab\xffc"): JSON carries text as Unicode, ` +
			`so it would reach Python changed (U+FFFD); send bytes as []byte`))

		type Inner struct {
			Name string `json:"name"`
		}
		type Outer struct {
			Items []Inner
			Skip  string `json:"-"`
		}
		_, err = wire.Marshal(Outer{Items: []Inner{{"ok"}, {"x\xc3"}}, Skip: "\xff"})
		invalidUTF8(err, "value.Items[1].name", 1)

		_, err = wire.Marshal(map[string]any{"k": []any{1, "\xfe"}})
		invalidUTF8(err, `value["k"][1]`, 0)

		_, err = wire.Marshal(map[string]int{"fine": 1, "bad\x80key": 2})
		invalidUTF8(err, `key "bad\x80key" of value`, 3)

		long := strings.Repeat("a", 5000) + "\xff"
		_, err = wire.Marshal(long) // the fast path of large texts
		invalidUTF8(err, "value", 5000)
		Expect(len(err.Error())).To(BeNumerically("<", 200), "the message quotes the bytes around the invalid one, not the text")
	})

	It("pass valid text, a valid U+FFFD, the text \\ufffd, bytes and values that encode themselves", func() {
		for _, v := range []any{
			"é😀\ufffd",
			`a \ufffd b`,
			[]byte("\xff\xfe"),
			json.RawMessage(`"\ufffd"`),
			net.IPv4(127, 0, 0, 1),
			map[string]string{"\ufffd": `\\ufffd`},
		} {
			b, err := wire.Marshal(v)
			Expect(err).NotTo(HaveOccurred(), "%#v", v)
			Expect(json.Valid(b)).To(BeTrue())
		}
	})

	It("are refused as a request's method or session", func() {
		_, err := wire.EncodeRequest(wire.Request{ID: 1, Method: "pre\xffdict"})
		invalidUTF8(err, "method", 3)
		_, err = wire.EncodeRequest(wire.Request{ID: 1, Method: "echo", Session: "user-\xe9"})
		invalidUTF8(err, "session", 5)
	})
})
