package selection

import (
	"fmt"
	"regexp"
	"strings"
)

// Ginkgo's label-filter language, evaluated here so that a plain go test
// binary links no part of Ginkgo: labels (case-insensitive), /regexp/, !,
// && (binding tighter than || and ,), groups, and label sets
// (`key: containsAny a, b`, containsAll, consistsOf, isSubsetOf, isEmpty).
// selection_test.go checks it against Ginkgo's own parser.

type lfKind int

const (
	lfEOF lfKind = iota
	lfOpen
	lfClose
	lfNot
	lfAnd
	lfOr
	lfRegexp
	lfLabel
	lfSetKey
	lfSetOp
	lfSetArg
)

type lfToken struct {
	kind  lfKind
	value string
	at    int
}

var setOperations = map[string]bool{"containsany": true, "containsall": true, "consistsof": true, "issubsetof": true, "isempty": true}

func lfTokens(input string) ([]lfToken, error) {
	runes, i := []rune(input), 0
	until := func(cutset string) string {
		j := i
		for j < len(runes) && !strings.ContainsRune(cutset, runes[j]) {
			j++
		}
		s := string(runes[i:j])
		i = j
		return s
	}
	bad := func(at int, why string) error { return fmt.Errorf("at %d: %s", at, why) }
	var out []lfToken
	last := lfEOF
	lastValue := ""
	for {
		for i < len(runes) && runes[i] == ' ' {
			i++
		}
		if i >= len(runes) {
			return append(out, lfToken{kind: lfEOF, at: i}), nil
		}
		t := lfToken{at: i}
		switch {
		case last == lfSetKey:
			t.kind, t.value = lfSetOp, until(" )")
			if !setOperations[strings.ToLower(t.value)] {
				return nil, bad(t.at, fmt.Sprintf("invalid set operation %q", t.value))
			}
		case last == lfSetOp:
			t.kind = lfSetArg
			if runes[i] == '{' {
				i++
				t.value = until("}")
				if i >= len(runes) {
					return nil, bad(t.at, "missing closing '}' in a set operation's argument")
				}
				i++
			} else {
				t.value = strings.TrimSpace(until("&|!,()/"))
			}
			empty := strings.EqualFold(lastValue, "isempty")
			if empty != (t.value == "") {
				return nil, bad(t.at, fmt.Sprintf("set operation %s with argument %q", lastValue, t.value))
			}
		case runes[i] == '&' || runes[i] == '|':
			if i+1 >= len(runes) || runes[i+1] != runes[i] {
				return nil, bad(i, fmt.Sprintf("invalid token %q (%q?)", runes[i], strings.Repeat(string(runes[i]), 2)))
			}
			t.kind = map[rune]lfKind{'&': lfAnd, '|': lfOr}[runes[i]]
			i += 2
		case runes[i] == '!':
			t.kind = lfNot
			i++
		case runes[i] == ',':
			t.kind = lfOr
			i++
		case runes[i] == '(':
			t.kind = lfOpen
			i++
		case runes[i] == ')':
			t.kind = lfClose
			i++
		case runes[i] == '/':
			i++
			t.kind, t.value = lfRegexp, until("/")
			i++
		default:
			value := strings.TrimSpace(until("&|!,()/:"))
			if i < len(runes) && runes[i] == ':' {
				if i+1 < len(runes) && runes[i+1] == ' ' {
					if value == "" {
						return nil, bad(i, "missing set key")
					}
					i++
					t.kind, t.value = lfSetKey, value
					break
				}
				more := strings.TrimSpace(until("&|!,()/"))
				if more == ":" {
					return nil, bad(i, "missing set operation")
				}
				value += more
			}
			for op := range setOperations {
				if strings.Index(strings.ToLower(value), " "+op) > 0 {
					return nil, bad(t.at, fmt.Sprintf("set operation %s without a set key (a missing ':'?)", op))
				}
			}
			t.kind, t.value = lfLabel, value
		}
		out = append(out, t)
		last, lastValue = t.kind, t.value
	}
}

type lfParser struct {
	toks []lfToken
	pos  int
}

func (p *lfParser) peek() lfToken { return p.toks[p.pos] }
func (p *lfParser) next() lfToken { t := p.toks[p.pos]; p.pos++; return t }

type labelFilter func(labels []string) bool

// parseLabelFilter parses filter as Ginkgo does ("" matches everything).
func parseLabelFilter(filter string) (labelFilter, error) {
	if filter == "" {
		return func([]string) bool { return true }, nil
	}
	toks, err := lfTokens(filter)
	if err != nil {
		return nil, err
	}
	p := &lfParser{toks: toks}
	f, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != lfEOF {
		return nil, fmt.Errorf("at %d: unexpected %q", t.at, t.value+map[lfKind]string{lfClose: ")", lfOpen: "("}[t.kind])
	}
	return f, nil
}

func (p *lfParser) or() (labelFilter, error) {
	left, err := p.and()
	for err == nil && p.peek().kind == lfOr {
		p.next()
		var right labelFilter
		if right, err = p.and(); err == nil {
			l := left
			left = func(ls []string) bool { return l(ls) || right(ls) }
		}
	}
	return left, err
}

func (p *lfParser) and() (labelFilter, error) {
	left, err := p.unary()
	for err == nil && p.peek().kind == lfAnd {
		p.next()
		var right labelFilter
		if right, err = p.unary(); err == nil {
			l := left
			left = func(ls []string) bool { return l(ls) && right(ls) }
		}
	}
	return left, err
}

func (p *lfParser) unary() (labelFilter, error) {
	t := p.next()
	switch t.kind {
	case lfNot:
		f, err := p.unary()
		if err != nil {
			return nil, err
		}
		return func(ls []string) bool { return !f(ls) }, nil
	case lfOpen:
		if p.peek().kind == lfClose {
			return nil, fmt.Errorf("at %d: an empty '()' group", t.at)
		}
		f, err := p.or()
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != lfClose {
			return nil, fmt.Errorf("at %d: '(' without its ')'", t.at)
		}
		return f, nil
	case lfRegexp:
		re, err := regexp.Compile(t.value)
		if err != nil {
			return nil, fmt.Errorf("at %d: %w", t.at, err)
		}
		return func(ls []string) bool {
			for _, l := range ls {
				if re.MatchString(l) {
					return true
				}
			}
			return false
		}, nil
	case lfLabel:
		return func(ls []string) bool {
			for _, l := range ls {
				if strings.EqualFold(l, t.value) {
					return true
				}
			}
			return false
		}, nil
	case lfSetKey:
		return p.setOperation(t)
	case lfEOF:
		return nil, fmt.Errorf("at %d: the filter ends where a label was expected", t.at)
	}
	return nil, fmt.Errorf("at %d: a label was expected", t.at)
}

func (p *lfParser) setOperation(key lfToken) (labelFilter, error) {
	op := p.next()
	arg := lfToken{kind: lfSetArg, at: op.at}
	if p.peek().kind == lfSetArg || !strings.EqualFold(op.value, "isempty") {
		arg = p.next()
	}
	if op.kind != lfSetOp || arg.kind != lfSetArg {
		return nil, fmt.Errorf("at %d: set key %q without its operation", key.at, key.value)
	}
	var want []string
	if arg.value != "" {
		for _, v := range strings.Split(arg.value, ",") {
			v = strings.ToLower(strings.TrimSpace(v))
			if v == "" || strings.ContainsAny(v, "&|!,()/") {
				return nil, fmt.Errorf("at %d: invalid value %q in a set operation", arg.at, v)
			}
			want = append(want, v)
		}
	}
	setOf := func(ls []string) map[string]bool {
		set := map[string]bool{}
		for _, l := range ls {
			k, v, ok := strings.Cut(l, ":")
			if ok && strings.EqualFold(strings.TrimSpace(k), strings.TrimSpace(key.value)) {
				set[strings.ToLower(strings.TrimSpace(v))] = true
			}
		}
		return set
	}
	count := func(set map[string]bool) int {
		n := 0
		for _, v := range want {
			if set[v] {
				n++
			}
		}
		return n
	}
	switch strings.ToLower(op.value) {
	case "isempty":
		return func(ls []string) bool { return len(setOf(ls)) == 0 }, nil
	case "containsany":
		return func(ls []string) bool { return count(setOf(ls)) > 0 }, nil
	case "containsall":
		return func(ls []string) bool { return count(setOf(ls)) == len(want) }, nil
	case "consistsof":
		return func(ls []string) bool { s := setOf(ls); return len(s) == len(want) && count(s) == len(want) }, nil
	default: // issubsetof
		return func(ls []string) bool {
			wanted := map[string]bool{}
			for _, v := range want {
				wanted[v] = true
			}
			for v := range setOf(ls) {
				if !wanted[v] {
					return false
				}
			}
			return true
		}, nil
	}
}
