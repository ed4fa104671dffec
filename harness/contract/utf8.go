package contract

import (
	"context"
	"errors"

	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness"
	"github.com/pyharness/pyharness/wire"
)

func init() {
	Behaviours = append(Behaviours, Behaviour{
		"refuses a Go string that is not valid UTF-8 (args, session, method) with a typed error at the call, and round-trips a valid U+FFFD",
		func(ctx context.Context, py pyharness.Interpreter) {
			var back any
			err := py.Call(ctx, "echo", map[string]any{"text": "caf\xe9"}, &back)
			var bad *wire.InvalidUTF8Error
			Expect(errors.As(err, &bad)).To(BeTrue(), "want a *wire.InvalidUTF8Error, got %v (and back %q)", err, back)
			Expect(errors.Is(err, wire.ErrUnserializable)).To(BeTrue())
			Expect(bad.Where).To(Equal(`value["text"]`))
			Expect(bad.Offset).To(Equal(3))
			Expect(err.Error()).To(ContainSubstring(`value["text"] is not valid UTF-8 (byte 3 of "caf\xe9")`))
			Expect(back).To(BeNil(), "nothing was sent, nothing came back")
			alive(ctx, py)
			roundTrip(ctx, py, "a real \ufffd and the text \\ufffd")

			err = py.Call(wire.WithSession(ctx, "user-\xe9"), "echo", 1, nil)
			Expect(errors.As(err, &bad)).To(BeTrue(), "want a *wire.InvalidUTF8Error for the session, got %v", err)
			Expect(bad.Where).To(Equal("session"))
			err = py.Call(ctx, "ech\xf6", 1, nil)
			Expect(errors.As(err, &bad)).To(BeTrue(), "want a *wire.InvalidUTF8Error for the method, got %v", err)
			Expect(bad.Where).To(Equal("method"))
			alive(ctx, py)
		},
	})
}
