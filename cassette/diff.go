package cassette

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/pyharness/pyharness/wire"
)

// Diff lists where two JSON values differ, one line per difference, each
// naming the path (root for the whole value, .key, [i]) and both values:
//
//	root.text: recorded "great", got "grea"
func Diff(root string, recorded, got json.RawMessage) []string {
	var a, b any
	if err := wire.Unmarshal(orNull(recorded), &a); err != nil {
		return []string{fmt.Sprintf("%s: recorded is not JSON: %v", root, err)}
	}
	if err := wire.Unmarshal(orNull(got), &b); err != nil {
		return []string{fmt.Sprintf("%s: got is not JSON: %v", root, err)}
	}
	var out []string
	diffValue(root, a, b, &out)
	return out
}

func orNull(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("null")
	}
	return raw
}

func diffValue(path string, a, b any, out *[]string) {
	switch x := a.(type) {
	case map[string]any:
		if y, ok := b.(map[string]any); ok {
			keys := slices.Sorted(maps.Keys(x))
			for k := range y {
				if _, ok := x[k]; !ok {
					keys = append(keys, k)
				}
			}
			slices.Sort(keys)
			for _, k := range slices.Compact(keys) {
				va, inA := x[k]
				vb, inB := y[k]
				p := path + "." + k
				switch {
				case !inA:
					*out = append(*out, fmt.Sprintf("%s: not recorded, got %s", p, show(vb)))
				case !inB:
					*out = append(*out, fmt.Sprintf("%s: recorded %s, missing", p, show(va)))
				default:
					diffValue(p, va, vb, out)
				}
			}
			return
		}
	case []any:
		if y, ok := b.([]any); ok {
			for i := range max(len(x), len(y)) {
				p := fmt.Sprintf("%s[%d]", path, i)
				switch {
				case i >= len(x):
					*out = append(*out, fmt.Sprintf("%s: not recorded, got %s", p, show(y[i])))
				case i >= len(y):
					*out = append(*out, fmt.Sprintf("%s: recorded %s, missing", p, show(x[i])))
				default:
					diffValue(p, x[i], y[i], out)
				}
			}
			return
		}
	}
	if sa, sb := show(a), show(b); sa != sb {
		*out = append(*out, fmt.Sprintf("%s: recorded %s, got %s", path, sa, sb))
	}
}

func show(v any) string {
	raw, err := encode(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return shorten(string(raw))
}

// shorten cuts a value's text for a failure message: past 120 bytes it
// keeps the first 100 and says how long the whole is.
func shorten(s string) string {
	if len(s) <= 120 {
		return s
	}
	return fmt.Sprintf("%s… (%d bytes)", s[:100], len(s))
}

func jsonEqual(a, b json.RawMessage) bool { return len(Diff("", a, b)) == 0 }

// Find returns the index of the first interaction at or after from that
// m matches (after the cassette's redaction of args), or -1.
func (c *Cassette) Find(m Matcher, method string, args json.RawMessage, used []bool) int {
	if m == nil {
		m = ExactArgs
	}
	args = c.Redact(args)
	last := -1
	for i, in := range c.Interactions {
		if !m(in, method, args) {
			continue
		}
		if used == nil || !used[i] {
			return i
		}
		last = i
	}
	return last // every match was used: the last one answers again
}

// Nearest describes the recorded interaction closest to a call that none
// matched, and how they differ: a call of the same method with the fewest
// differing args, else the first recorded call. "" when the cassette is
// empty.
func (c *Cassette) Nearest(method string, args json.RawMessage) string {
	args = c.Redact(args)
	best, bestDiff := -1, []string(nil)
	for i, in := range c.Interactions {
		if in.Method != method {
			continue
		}
		d := Diff("args", in.Args, args)
		if best < 0 || len(d) < len(bestDiff) {
			best, bestDiff = i, d
		}
	}
	if best < 0 {
		if len(c.Interactions) == 0 {
			return ""
		}
		methods := []string{}
		for _, in := range c.Interactions {
			if !slices.Contains(methods, in.Method) {
				methods = append(methods, in.Method)
			}
		}
		in := c.Interactions[0]
		return fmt.Sprintf("no call of %q was recorded (recorded: %s); nearest: call 1, %s(%s)",
			method, strings.Join(methods, ", "), in.Method, shorten(string(in.Args)))
	}
	in := c.Interactions[best]
	return fmt.Sprintf("nearest: call %d, %s(%s); difference (recorded, got):\n    %s",
		best+1, in.Method, shorten(string(in.Args)), strings.Join(bestDiff, "\n    "))
}
