// Package report summarises documents with wordcount: a second package, so
// that `go test ./...` runs two test binaries that share one pool host.
package report

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"example.com/wordcount"
)

// Summary is one line per document: its most frequent words.
func Summary(ctx context.Context, c *wordcount.Counter, docs map[string]string, n int) (string, error) {
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(docs)) {
		top, err := c.Top(ctx, docs[name], n)
		if err != nil {
			return "", fmt.Errorf("report: %s: %w", name, err)
		}
		words := make([]string, len(top))
		for i, w := range top {
			words[i] = fmt.Sprintf("%s(%d)", w.Text, w.Count)
		}
		fmt.Fprintf(&b, "%s: %s\n", name, strings.Join(words, " "))
	}
	return b.String(), nil
}
