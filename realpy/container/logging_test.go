package container

import (
	"strings"
	"testing"

	tclog "github.com/testcontainers/testcontainers-go/log"
)

type lines struct{ b strings.Builder }

func (l *lines) Printf(format string, v ...any) { l.b.WriteString(format) }

// Run keeps testcontainers off standard error unless told where its lines go.
func TestTestcontainersLogger(t *testing.T) {
	defer tclog.SetDefault(tcDefault)

	if got := applyLogger(nil, nil); len(got) != 1 || tclog.Default() == tcDefault {
		t.Fatalf("without WithLogger: %d customizers, logger %T; want testcontainers quiet", len(got), tclog.Default())
	}
	tclog.Printf("🐳 dropped")

	mine := &lines{}
	applyLogger(mine, nil)
	tclog.Printf("✅ kept")
	if mine.b.String() != "✅ kept" {
		t.Fatalf("WithLogger's logger got %q", mine.b.String())
	}

	theirs := &lines{}
	tclog.SetDefault(theirs)
	if got := applyLogger(nil, nil); len(got) != 0 || tclog.Default() != theirs {
		t.Fatal("a logger the process set itself must be kept")
	}
}
