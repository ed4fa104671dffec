package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// The code-block half of the check: a Go (or Python) block compiles, or is
// an excerpt found, line by line, in the file it names.

var (
	fromRe   = regexp.MustCompile(`^//\s*from\s+(\S+)`)
	pyFromRe = regexp.MustCompile(`^#\s*from\s+(\S+)$`)
	trailers = map[string]*regexp.Regexp{"//": regexp.MustCompile(`\s+//\s.*$`), "#": regexp.MustCompile(`\s+#\s.*$`)}
)

func firstCode(lines []string) string {
	for _, l := range lines {
		if t := strings.TrimSpace(l); t != "" {
			return t
		}
	}
	return ""
}

// norm is how a line is compared: without its trailing comment, trimmed.
func norm(l, comment string) string {
	return strings.TrimSpace(trailers[comment].ReplaceAllString(l, ""))
}

// checkFragment: the block's lines, but for blank lines and whole-line
// comments, are lines of the named file (also without blank lines and
// whole-line comments), consecutive there but where the block writes `...`
// (an elision), and in the same order.
func checkFragment(b block, src, comment string) {
	data, err := os.ReadFile(src)
	if err != nil {
		report(b.file, b.line, "fragment from %s: %v", src, err)
		return
	}
	var have []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if n := norm(sc.Text(), comment); n != "" && !strings.HasPrefix(n, comment) {
			have = append(have, n)
		}
	}
	type docLine struct {
		text string
		line int
	}
	var chunks [][]docLine
	var cur []docLine
	first := true
	for k, l := range b.lines {
		n := norm(l, comment)
		if first && (fromRe.MatchString(n) || pyFromRe.MatchString(n)) {
			first = false
			continue
		}
		switch {
		case n == "...":
			if len(cur) > 0 {
				chunks = append(chunks, cur)
			}
			cur = nil
		case n == "" || strings.HasPrefix(n, comment):
		default:
			cur = append(cur, docLine{n, b.line + 1 + k})
		}
	}
	if len(cur) > 0 {
		chunks = append(chunks, cur)
	}
	at := 0
	for _, chunk := range chunks {
		best, bestLen := -1, -1
		for j := at; j < len(have); j++ {
			m := 0
			for m < len(chunk) && j+m < len(have) && have[j+m] == chunk[m].text {
				m++
			}
			if m > bestLen {
				best, bestLen = j, m
			}
			if m == len(chunk) {
				break
			}
		}
		if bestLen < len(chunk) {
			bad := chunk[max(bestLen, 0)]
			why := "not in that file"
			if bestLen > 0 {
				why = "not the next line there (write ... where the block skips lines)"
			} else if slices.Contains(have, bad.text) {
				why = "in that file, but not after the block's previous lines"
			}
			report(b.file, bad.line, "fragment from %s: %s: %s", src, why, bad.text)
			return
		}
		at = best + len(chunk)
	}
}

// compile puts each complete file in a package of its own inside the module
// (a directory go's wildcards skip), checks that gofmt leaves it alone and
// vets them all.
func compile(root string, blocks []block) {
	if len(blocks) == 0 {
		return
	}
	tmp, err := os.MkdirTemp(root, "_docscheck-")
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(tmp)
	where := map[string]block{}
	var pkgs []string
	for i, b := range blocks {
		dir := filepath.Join(tmp, fmt.Sprintf("b%d", i))
		if err := os.Mkdir(dir, 0o755); err != nil {
			fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "block_test.go"), []byte(strings.Join(b.lines, "\n")+"\n"), 0o644); err != nil {
			fatal(err)
		}
		rel, _ := filepath.Rel(root, dir)
		pkgs = append(pkgs, "./"+rel)
		where[filepath.Base(dir)] = b
	}
	if out, err := exec.Command("gofmt", "-l", tmp).CombinedOutput(); err != nil {
		report("docs", 0, "gofmt: %v: %s", err, out)
	} else {
		for _, f := range strings.Fields(string(out)) {
			b := where[filepath.Base(filepath.Dir(f))]
			report(b.file, b.line, "a complete file that gofmt would change: format it with gofmt")
		}
	}
	cmd := exec.Command("go", append([]string{"vet"}, pkgs...)...)
	out, err := cmd.CombinedOutput()
	if err == nil {
		return
	}
	// Map "…/_docscheck-N/bK/block_test.go:L:C: msg" back to the markdown line.
	lineRe := regexp.MustCompile(`(b\d+)[/\\]block_test\.go:(\d+)(?::\d+)?: (.*)`)
	seen := false
	for _, l := range strings.Split(string(out), "\n") {
		m := lineRe.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		b := where[m[1]]
		var n int
		fmt.Sscan(m[2], &n)
		report(b.file, b.line+n, "does not compile: %s", m[3])
		seen = true
	}
	if !seen {
		report("docs", 0, "go vet of the complete code blocks failed: %s", strings.TrimSpace(string(out)))
	}
}
