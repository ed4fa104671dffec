package wire_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/pyharness/pyharness/wire"
)

// FuzzDecode feeds arbitrary bytes to the reader side of the protocol: frame
// decoding, then envelope decoding. It must never panic, never allocate more
// than the limit, and either fail with a typed error or yield an envelope
// that re-encodes to an equivalent one.
func FuzzDecode(f *testing.F) {
	frame := func(s string) []byte {
		var b bytes.Buffer
		_ = wire.WriteFrame(&b, []byte(s), wire.DefaultMaxFrame)
		return b.Bytes()
	}
	f.Add(frame(`{"id":1,"ok":true,"result":{"pid":1}}`))
	f.Add(frame(`{"id":2,"ok":false,"error":{"kind":"exception","type":"ValueError","message":"x","traceback":"t"}}`))
	f.Add(frame(`{"id":3,"ok":true,"result":9007199254740993}`))
	f.Add(frame(`{nope`))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0})

	const limit = 1 << 16
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		for {
			payload, err := wire.ReadFrame(r, limit)
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, wire.ErrProtocol) && !errors.Is(err, wire.ErrFrameTooLarge) {
					t.Fatalf("untyped frame error: %v", err)
				}
				return
			}
			if len(payload) > limit {
				t.Fatalf("payload of %d bytes over the limit", len(payload))
			}
			resp, err := wire.DecodeResponse(payload)
			if err != nil {
				if !errors.Is(err, wire.ErrProtocol) {
					t.Fatalf("untyped envelope error: %v", err)
				}
				continue
			}
			again, err := wire.EncodeResponse(*resp)
			if err != nil {
				t.Fatalf("re-encode %+v: %v", resp, err)
			}
			back, err := wire.DecodeResponse(again)
			if err != nil {
				t.Fatalf("decode of re-encoded %q: %v", again, err)
			}
			if back.ID != resp.ID || back.OK != resp.OK || (resp.Error == nil) != (back.Error == nil) {
				t.Fatalf("round trip changed the envelope: %+v -> %+v", resp, back)
			}
			if _, err := wire.DecodeRequest(payload); err != nil && !errors.Is(err, wire.ErrProtocol) {
				t.Fatalf("untyped request error: %v", err)
			}
		}
	})
}
