package pyharness_test

import (
	"context"
	"fmt"

	"github.com/pyharness/pyharness"
	"github.com/pyharness/pyharness/mockpy"
)

// labeler is production code: it depends on the call contract only.
type labeler struct{ py pyharness.Caller }

func (l labeler) label(ctx context.Context, text string) (string, error) {
	var v struct{ Label string }
	err := l.py.Call(ctx, "classify", map[string]string{"text": text}, &v)
	return v.Label, err
}

// Production code takes a pyharness.Caller; unit specs hand it a mock,
// production (and integration specs) a realpy pool.
func ExampleCaller() {
	py := mockpy.New()
	py.RouteToHandler("classify", mockpy.Respond(map[string]string{"label": "negative"}))
	label, err := labeler{py: py}.label(context.Background(), "awful")
	fmt.Println(label, err)
	// Output: negative <nil>
}
