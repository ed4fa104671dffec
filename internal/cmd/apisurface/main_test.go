package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// want is the surface of testdata/surface: it shows what is listed (consts
// with their type and value, funcs and methods without parameter names,
// generic types with their parameters (named as the type declares them, also
// in methods whose receivers rename them), embedded fields, field tags, fields and methods
// promoted through an unexported embedded struct, interface method sets with
// embedded interfaces' methods, unexported interface methods, constraints,
// aliases) and what is not (unexported names, methods of unexported types,
// unexported methods, unexported fields, fields of unexported structs that
// are not embedded).
const want = `# github.com/pyharness/pyharness/internal/cmd/apisurface/testdata/surface: exported API, written by go run ./internal/cmd/apisurface -write; do not edit
const Answer untyped int = 42
const Big uint64 = 1099511627776
const High Level = 1
const Low Level = 0
const Name untyped string = "surface"
const Timeout time.Duration = 3000000000 (3s)
var ErrGone error
func Map[T any, U comparable]([]T, func(T) U) map[U]T
func New(context.Context, string, ...Option) (*Box, error)
type Alias = List[string]
type Box struct
embedded Box.Writer io.Writer
field Box.Depth int (promoted via inner)
field Box.Label string
field Box.Tags []string ` + "`json:\"tags,omitempty\"`" + `
method (*Box) Close() error
method (Box) Promoted() bool (promoted via inner)
method (Box) Size() int
type Handler func(context.Context, func(string) bool) (int, error)
type Level int
type List[T comparable] struct
field List[T].Items []T
method (List[T]) Index(T) (int, bool)
method (*List[T]) Push(T)
type Number interface{~int | ~float64}
type Option func(*config)
type Reader interface
method Reader.Close() error
method Reader.Read(context.Context, []byte) (int, error)
type Sealed interface
method Sealed.Kind() string
method Sealed.sealed (unexported: only this package can implement Sealed)
`

func TestSurface(t *testing.T) {
	var out bytes.Buffer
	if err := run(&out, false, "", []string{"./testdata/surface"}); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != want {
		t.Errorf("surface of testdata/surface:\n%s\nwant:\n%s\ndiff (- want, + got):\n%s", got, want, lineDiff(want, got))
	}
}

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	if err := run(nil, true, dir, []string{"./testdata/surface"}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "internal", "cmd", "apisurface", "testdata", "surface.txt")
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("%s:\n%s\nwant:\n%s", file, got, want)
	}
}

func TestFileNameAndPrivate(t *testing.T) {
	const mod = "github.com/pyharness/pyharness"
	for pkg, file := range map[string]string{
		mod:                       "pyharness.txt",
		mod + "/realpy":           "realpy.txt",
		mod + "/realpy/container": filepath.FromSlash("realpy/container.txt"),
	} {
		if got := FileName(mod, pkg); got != file {
			t.Errorf("FileName(%q) = %q, want %q", pkg, got, file)
		}
	}
	for pkg, want := range map[string]bool{
		mod:                         false,
		mod + "/harness/contract":   false,
		mod + "/internal/procfs":    true,
		mod + "/realpy/internal/x":  true,
		mod + "/suites/pool":        true,
		mod + "/cmd/pyharness":      true,
		mod + "/examples/sentiment": true,
		mod + "/x/testdata/surface": true,
		mod + "/internalize":        false,
	} {
		if got := private(mod, pkg); got != want {
			t.Errorf("private(%q) = %v, want %v", pkg, got, want)
		}
	}
}

// lineDiff lists the lines only in a (-) or only in b (+).
func lineDiff(a, b string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	am, bm := in(a), in(b)
	var d strings.Builder
	for _, l := range strings.Split(a, "\n") {
		if !bm[l] {
			d.WriteString("- " + l + "\n")
		}
	}
	for _, l := range strings.Split(b, "\n") {
		if !am[l] {
			d.WriteString("+ " + l + "\n")
		}
	}
	return d.String()
}
