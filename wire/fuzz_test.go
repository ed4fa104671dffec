package wire_test

import (
	"bytes"
	"errors"
	"io"
	"reflect"
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

// FuzzSegmented feeds arbitrary segmented payloads to the decoders: they
// must never panic, fail only with a typed error, and a reply they accept
// decodes to what the plain reply it stands for (Resolve) decodes to.
func FuzzSegmented(f *testing.F) {
	seg := func(env string, kinds string, segs ...string) []byte { return segmented(env, kinds, segs...) }
	f.Add(seg(`{"id":1,"ok":true,"result":"\udbff0"}`, "s", "text"))
	f.Add(seg(`{"id":1,"ok":true,"result":["\udbff1","\udbff0"]}`, "sb", "a", "\x00\xff"))
	f.Add(seg(`{"id":1,"item":"\udbff0"}`, "s", "\xff"))
	f.Add(seg(`{"id":1,"method":"echo","args":{"k":"\udbff0"}}`, "b", "zz"))
	f.Add([]byte{0, 0, 0, 0, 1, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, payload []byte) {
		if len(payload) == 0 || payload[0] != 0x00 {
			return
		}
		plain, perr := wire.Resolve(payload)
		if perr != nil && !errors.Is(perr, wire.ErrProtocol) {
			t.Fatalf("untyped resolve error: %v", perr)
		}
		resp, err := wire.DecodeResponse(payload)
		if err != nil {
			if !errors.Is(err, wire.ErrProtocol) {
				t.Fatalf("untyped envelope error: %v", err)
			}
		} else {
			var got any
			gerr := resp.DecodeResult(&got)
			if perr != nil {
				if gerr == nil && resp.Final() && resp.OK {
					t.Fatalf("decoded %v from a payload that does not resolve: %v", got, perr)
				}
			} else if presp, err := wire.DecodeResponse(plain); err == nil && resp.Final() && resp.OK {
				var want any
				werr := presp.DecodeResult(&want)
				if (gerr == nil) != (werr == nil) || gerr == nil && !reflect.DeepEqual(got, want) {
					t.Fatalf("segmented decodes to %v (%v), plain to %v (%v)", got, gerr, want, werr)
				}
			}
		}
		if _, err := wire.DecodeRequest(payload); err != nil && !errors.Is(err, wire.ErrProtocol) {
			t.Fatalf("untyped request error: %v", err)
		}
	})
}
