// Package failfmt makes Gomega print pyharness's errors readably: importing
// it registers a format.CustomFormatter for every error that is, or wraps
// (fmt.Errorf's %w, errors.Join), an error of pyharness. Gomega prints an
// error's Error text first, which for a Python error carries the traceback
// as lines; the formatter then replaces the struct dump that would follow
// with the typed errors the value holds (what errors.Is and errors.As
// find), and the whole traceback when Error had to shorten it.
//
// mockpy, isolation, gotest and harness import it, so a suite that uses any
// of them gets the formatter.
package failfmt

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/onsi/gomega/format"
)

const module = "github.com/pyharness/pyharness"

func init() { format.RegisterCustomFormatter(Format) }

// Format is the registered formatter: it takes an error of pyharness, or
// one that wraps one, and leaves every other value to Gomega.
func Format(value any) (string, bool) {
	err, ok := value.(error)
	if !ok || err == nil || !holdsOurs(err, 0) {
		return "", false
	}
	if v := reflect.ValueOf(err); v.Kind() == reflect.Pointer && v.IsNil() {
		return "", false
	}
	var typed []string
	var pythonErrs []pythonError
	walk(err, 0, func(e error) {
		if pe, ok := asPythonError(e); ok {
			pythonErrs = append(pythonErrs, pe)
			typed = append(typed, fmt.Sprintf("*wire.PythonError (kind %s, type %s)", pe.kind, pe.typ))
			return
		}
		if ours(e) {
			typed = append(typed, fmt.Sprintf("%T", e))
		}
	})
	var b strings.Builder
	fmt.Fprintf(&b, "<holds %s>", strings.Join(dedupe(typed), ", "))
	for _, pe := range pythonErrs {
		// Error shortened this one: the whole traceback, once, here.
		if tb := pe.UserTraceback(); !strings.Contains(pe.Error(), tb) {
			fmt.Fprintf(&b, "\nthe whole traceback of python %s (pyharness_worker frames cut):\n%s", pe.typ, tb)
		}
	}
	return b.String(), true
}

// pythonError is what the formatter reads of a *wire.PythonError: its text,
// its traceback without the worker's frames, and its Kind and Type fields.
// It is found by its type's name and read by reflection, so that nothing
// under internal/ imports a public package (wire).
type pythonError struct {
	tracebacked
	kind, typ string
}

type tracebacked interface {
	error
	UserTraceback() string
}

// asPythonError returns e as a pythonError when it is a *wire.PythonError.
func asPythonError(e error) (pythonError, bool) {
	v := reflect.ValueOf(e)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Type().String() != "*wire.PythonError" || v.Type().Elem().PkgPath() != module+"/wire" {
		return pythonError{}, false
	}
	tb, ok := e.(tracebacked)
	kind, typ := v.Elem().FieldByName("Kind"), v.Elem().FieldByName("Type")
	if !ok || kind.Kind() != reflect.String || typ.Kind() != reflect.String {
		return pythonError{}, false
	}
	return pythonError{tb, kind.String(), typ.String()}, true
}

// walk calls fn on err and every error it wraps, depth first.
func walk(err error, depth int, fn func(error)) {
	if err == nil || depth > 32 {
		return
	}
	fn(err)
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		walk(u.Unwrap(), depth+1, fn)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			walk(e, depth+1, fn)
		}
	}
}

func holdsOurs(err error, depth int) bool {
	found := false
	walk(err, depth, func(e error) { found = found || ours(e) })
	return found
}

// ours reports whether e's type is declared in a package of pyharness.
func ours(e error) bool {
	t := reflect.TypeOf(e)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	p := t.PkgPath()
	return p == module || strings.HasPrefix(p, module+"/")
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
