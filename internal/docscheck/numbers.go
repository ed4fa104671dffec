// The generated Numbers table: docs/numbers.md's measured table is what
// `pyharness bench --numbers docs/numbers.md` wrote, not typed by hand.

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/pyharness/pyharness/internal/benchkit"
)

const numbersDoc = "docs/numbers.md"

// checkNumbers: docs/numbers.md holds the generated table between
// benchkit's markers, and it is exactly what benchkit.RenderNumbers makes of
// the run recorded beside it (docs/numbers.json).
func checkNumbers() {
	doc, err := os.ReadFile(numbersDoc)
	if os.IsNotExist(err) {
		return
	}
	if err != nil {
		report(numbersDoc, 0, "%v", err)
		return
	}
	part, err := benchkit.GeneratedPart(doc)
	if err != nil {
		report(numbersDoc, 0, "%v (`go run ./cmd/pyharness bench --numbers %s` writes it)", err, numbersDoc)
		return
	}
	line := strings.Count(string(doc[:strings.Index(string(doc), benchkit.NumbersBegin)]), "\n") + 2
	js, err := os.ReadFile(benchkit.NumbersJSON(numbersDoc))
	if err != nil {
		report(numbersDoc, line, "the generated table's run: %v", err)
		return
	}
	var rep benchkit.Report
	if err := json.Unmarshal(js, &rep); err != nil {
		report(benchkit.NumbersJSON(numbersDoc), 1, "%v", err)
		return
	}
	if want := benchkit.RenderNumbers(&rep); part != want {
		report(numbersDoc, line+firstDiff(part, want), "the generated table differs from what %s renders to: it is written by `go run ./cmd/pyharness bench --numbers %s`, not by hand%s",
			benchkit.NumbersJSON(numbersDoc), numbersDoc, fmt.Sprintf(" (first differing line: %q)", lineAt(part, firstDiff(part, want))))
	}
}

func firstDiff(a, b string) int {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return i
		}
	}
	return min(len(al), len(bl))
}

func lineAt(s string, i int) string {
	if l := strings.Split(s, "\n"); i < len(l) {
		return l[i]
	}
	return ""
}
