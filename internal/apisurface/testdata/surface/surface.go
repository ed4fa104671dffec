// Package surface is apisurface's test input: a package with a known
// exported API (see suites/internal/unit/apisurface.go).
package surface

import (
	"context"
	"io"
	"time"
)

const (
	Answer         = 42
	Name           = "surface"
	Timeout        = 3 * time.Second
	hidden         = 1
	Big     uint64 = 1 << 40
)

type Level int

const (
	Low Level = iota
	High
)

var (
	ErrGone = io.EOF
	count   int
)

func New(ctx context.Context, name string, opts ...Option) (*Box, error) { return nil, nil }

func Map[T any, U comparable](in []T, f func(T) U) map[U]T { return nil }

func private() {}

// Option is a func type.
type Option func(*config)

// Handler's parameter names are not part of the API.
type Handler func(ctx context.Context, each func(item string) bool) (n int, err error)

type config struct{}

// Box embeds an exported type, an unexported struct (whose exported field
// and method are promoted) and has an unexported field.
type Box struct {
	io.Writer
	*inner
	Label string
	size  int
	Tags  []string `json:"tags,omitempty"`
}

type inner struct {
	Depth int
	deep  int
}

func (*inner) Promoted() bool { return true }
func (*inner) notPromoted()   {}

func (b *Box) Close() error     { return nil }
func (b Box) Size() int         { return b.size }
func (b *Box) unexported()      {}
func (hiddenType) Visible() int { return 0 }

type hiddenType struct{ Field int }

// List is generic; Push names its type parameter E, the surface names it T.
type List[T comparable] struct {
	Items []T
}

func (l *List[E]) Push(v E)             {}
func (l List[T]) Index(v T) (int, bool) { return 0, false }

type Number interface{ ~int | ~float64 }

type Reader interface {
	io.Closer
	Read(ctx context.Context, p []byte) (n int, err error)
}

type Sealed interface {
	Kind() string
	sealed()
}

type Alias = List[string]
