// Package verdicts is a consumer whose specs fail on purpose, to show what
// pyharness's failures read like: behind the build tag `verdicts`, its
// Ginkgo suite (./ginkgo) and its plain go test package (./plain) each
// fail once per failure kind (an unmet mock, an unhandled call, a Python
// exception, a leaked worker, a leaked goroutine). ci/verdicts runs them
// and checks the text: the spec's file:line, the Python traceback as lines
// with the handler's frame, the leaked worker's id and start site, the
// unmet mock's counts. Without the tag there is nothing to run.
//
//	PYHARNESS_INTEGRATION=1 go tool ginkgo --tags verdicts ./ginkgo   # fails, on purpose
package verdicts

import (
	"context"
	"fmt"

	"github.com/pyharness/pyharness"
)

// Tagger is the production code under test: it asks Python for keywords.
type Tagger struct{ py pyharness.Caller }

// NewTagger returns a Tagger on py (a realpy pool in production, a mock in
// unit specs).
func NewTagger(py pyharness.Caller) *Tagger { return &Tagger{py: py} }

// Keywords returns the keywords Python extracts from text.
func (t *Tagger) Keywords(ctx context.Context, text string) ([]string, error) {
	var words []string
	if err := t.py.Call(ctx, "keywords", map[string]string{"text": text}, &words); err != nil {
		return nil, fmt.Errorf("tagger: keywords of %q: %w", text, err)
	}
	return words, nil
}
