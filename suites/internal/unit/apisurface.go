package unit

import (
	"bytes"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/internal/apisurface"
)

// surfacePkg is internal/apisurface's test input, from suites/ (where the
// binary runs).
const surfacePkg = "../internal/apisurface/testdata/surface"

// surfaceWant is the surface of testdata/surface: it shows what is listed (consts
// with their type and value, funcs and methods without parameter names,
// generic types with their parameters (named as the type declares them, also
// in methods whose receivers rename them), embedded fields, field tags, fields and methods
// promoted through an unexported embedded struct, interface method sets with
// embedded interfaces' methods, unexported interface methods, constraints,
// aliases) and what is not (unexported names, methods of unexported types,
// unexported methods, unexported fields, fields of unexported structs that
// are not embedded).
const surfaceWant = `# github.com/pyharness/pyharness/internal/apisurface/testdata/surface: exported API, written by go run ./internal/cmd/apisurface -write; do not edit
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

var _ = describe("apisurface: the exported API that ci/api records", func() {
	It("lists testdata/surface's exported names, each with its signature, and none of its unexported ones", func() {
		var out bytes.Buffer
		Expect(apisurface.Run(&out, false, "", []string{surfacePkg})).To(Succeed())
		Expect(out.String()).To(Equal(surfaceWant))
	})

	It("writes the surface to the package's file under -dir, at its path inside the module", func() {
		dir := GinkgoT().TempDir()
		Expect(apisurface.Run(nil, true, dir, []string{surfacePkg})).To(Succeed())
		got, err := os.ReadFile(filepath.Join(dir, "internal", "apisurface", "testdata", "surface.txt"))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(got)).To(Equal(surfaceWant))
	})

	const mod = "github.com/pyharness/pyharness"

	DescribeTable("names a package's file under api/ by its path inside the module",
		func(pkg, file string) { Expect(apisurface.FileName(mod, pkg)).To(Equal(file)) },
		Entry(nil, mod, "pyharness.txt"),
		Entry(nil, mod+"/realpy", "realpy.txt"),
		Entry(nil, mod+"/realpy/container", filepath.FromSlash("realpy/container.txt")),
	)

	DescribeTable("leaves internal, suites, examples, cmd and testdata packages out of the public surface",
		func(pkg string, private bool) { Expect(apisurface.Private(mod, pkg)).To(Equal(private)) },
		Entry(nil, mod, false),
		Entry(nil, mod+"/harness/contract", false),
		Entry(nil, mod+"/internal/procfs", true),
		Entry(nil, mod+"/realpy/internal/x", true),
		Entry(nil, mod+"/suites/pool", true),
		Entry(nil, mod+"/cmd/pyharness", true),
		Entry(nil, mod+"/examples/sentiment", true),
		Entry(nil, mod+"/x/testdata/surface", true),
		Entry(nil, mod+"/internalize", false),
	)
})
