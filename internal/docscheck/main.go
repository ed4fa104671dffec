// Command docscheck keeps README.md and docs/*.md true to the code; ci/docs
// runs it (the rules are listed there). It prints one line per finding,
// file:line first, and exits 1 if there is any.
package main

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// packages maps the package names the docs write (realpy.Start) to their
// directories in the module.
var packages = map[string]string{
	"pyharness":        ".",
	"wire":             "wire",
	"mockpy":           "mockpy",
	"realpy":           "realpy",
	"container":        "realpy/container",
	"harness":          "harness",
	"contract":         "harness/contract",
	"containerbackend": "harness/containerbackend",
	"isolation":        "isolation",
	"leak":             "isolation/leak",
	"gotest":           "gotest",
}

type block struct {
	file  string // the markdown file
	line  int    // line of the opening fence
	info  string // the fence's info string
	lines []string
}

type doc struct {
	path     string
	lines    []string // the file's lines
	prose    []int    // indexes of lines outside fences
	blocks   []block
	headings map[string]bool // GitHub anchors of its headings
}

var findings []string

func report(file string, line int, format string, args ...any) {
	findings = append(findings, fmt.Sprintf("%s:%d: %s", file, line, fmt.Sprintf(format, args...)))
}

func main() {
	root, err := os.Getwd()
	if err != nil {
		fatal(err)
	}
	files := []string{"README.md"}
	more, _ := filepath.Glob("docs/*.md")
	files = append(files, more...)
	docs := map[string]*doc{}
	for _, f := range files {
		d, err := load(f)
		if err != nil {
			fatal(err)
		}
		docs[f] = d
	}
	exported := exportedNames(root)
	all := anyNames(exported)
	sources := sourceText(root)
	var complete []block
	for _, f := range files {
		d := docs[f]
		checkLinks(d)
		checkNames(d, exported)
		checkBare(d, exported, all)
		checkPaths(d)
		checkEnv(d, sources)
		checkCommands(d, sources)
		checkBenchmarks(d)
		for _, b := range d.blocks {
			first := firstCode(b.lines)
			if b.info == "python" {
				if m := pyFromRe.FindStringSubmatch(first); m != nil {
					checkFragment(b, m[1], "#")
				}
				continue
			}
			if b.info != "go" {
				continue
			}
			switch {
			case strings.HasPrefix(first, "package "):
				complete = append(complete, b)
			case fromRe.MatchString(first):
				checkFragment(b, fromRe.FindStringSubmatch(first)[1], "//")
			default:
				report(b.file, b.line, "a ```go block must be a complete file (it starts with a package clause) or a fragment whose first line is `// from PATH`, PATH the file where the same lines run")
			}
		}
	}
	compile(root, complete)
	checkNumbers()
	// The README's table of what to read next links every page of docs/.
	for _, f := range more {
		if !strings.Contains(strings.Join(docs["README.md"].lines, "\n"), "]("+filepath.ToSlash(f)+")") {
			report("README.md", 0, "%s is not linked from the README (its table of what to read next)", f)
		}
	}
	if len(findings) > 0 {
		for _, f := range findings {
			fmt.Println(f)
		}
		fmt.Printf("docscheck: %d finding(s) in %d file(s)\n", len(findings), len(files))
		os.Exit(1)
	}
	n := 0
	for _, d := range docs {
		n += len(d.blocks)
	}
	fmt.Printf("docscheck: %d file(s), %d code block(s) (%d compiled), links, names, paths, variables, commands, benchmarks and the generated numbers: all true\n", len(files), n, len(complete))
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "docscheck:", err)
	os.Exit(2)
}

var fenceRe = regexp.MustCompile("^(\\s*)```+\\s*([\\w-]*)")

func load(path string) (*doc, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	d := &doc{path: path, lines: strings.Split(string(data), "\n"), headings: map[string]bool{}}
	var cur *block
	indent := ""
	for i, l := range d.lines {
		if cur != nil {
			if strings.HasPrefix(strings.TrimSpace(l), "```") {
				d.blocks = append(d.blocks, *cur)
				cur = nil
				continue
			}
			cur.lines = append(cur.lines, strings.TrimPrefix(l, indent))
			continue
		}
		if m := fenceRe.FindStringSubmatch(l); m != nil {
			cur = &block{file: path, line: i + 1, info: m[2]}
			indent = m[1]
			continue
		}
		d.prose = append(d.prose, i)
		if strings.HasPrefix(l, "#") {
			slug := anchor(strings.TrimLeft(l, "# "))
			for n := 1; d.headings[slug]; n++ {
				slug = fmt.Sprintf("%s-%d", anchor(strings.TrimLeft(l, "# ")), n)
			}
			d.headings[slug] = true
		}
	}
	if cur != nil {
		report(path, cur.line, "code block never closed")
	}
	return d, nil
}

// anchor is GitHub's anchor for a heading: lower case, punctuation dropped,
// spaces to hyphens.
func anchor(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(h)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127:
			b.WriteRune(r)
		}
	}
	return b.String()
}

var (
	codeSpanRe = regexp.MustCompile("`[^`]*`")
	linkRe     = regexp.MustCompile(`\]\(([^)\s]+)\)`)
)

func checkLinks(d *doc) {
	for _, i := range d.prose {
		text := codeSpanRe.ReplaceAllString(d.lines[i], "")
		for _, m := range linkRe.FindAllStringSubmatch(text, -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			path, frag, _ := strings.Cut(target, "#")
			file := d.path
			if path != "" {
				file = filepath.Join(filepath.Dir(d.path), path)
				if _, err := os.Stat(file); err != nil {
					report(d.path, i+1, "link %s: no such file %s", target, file)
					continue
				}
			}
			if frag == "" || !strings.HasSuffix(file, ".md") {
				continue
			}
			t, err := load(file)
			if err != nil {
				report(d.path, i+1, "link %s: %v", target, err)
				continue
			}
			if !t.headings[frag] {
				report(d.path, i+1, "link %s: %s has no heading with the anchor #%s", target, file, frag)
			}
		}
	}
}

var nameRe = regexp.MustCompile(`\b(pyharness|wire|mockpy|realpy|container|harness|contract|containerbackend|isolation|leak|gotest)\.([A-Z]\w*)(?:\.([A-Z]\w*))?`)

// checkNames: every pkg.Name (and pkg.Type.Method) the prose and its code
// spans write exists, exported, in that package.
func checkNames(d *doc, exported map[string]map[string]bool) {
	for _, i := range d.prose {
		for _, m := range nameRe.FindAllStringSubmatch(d.lines[i], -1) {
			names := exported[m[1]]
			if !names[m[2]] {
				report(d.path, i+1, "%s.%s: package %s (%s) exports no %s", m[1], m[2], m[1], packages[m[1]], m[2])
				continue
			}
			if m[3] != "" && !names[m[2]+"."+m[3]] {
				report(d.path, i+1, "%s: %s.%s has no method or field %s", m[0], m[1], m[2], m[3])
			}
		}
	}
}

// exportedNames parses each package's non-test files: top-level exported
// names, and Type.Method / Type.Field for exported types.
func exportedNames(root string) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for name, dir := range packages {
		out[name] = parseDir(filepath.Join(root, dir))
	}
	return out
}

// dotImported: the packages specs dot-import, whose names the docs write bare
// (Expect, Equal, Describe, SpecTimeout).
var dotImported = []string{"github.com/onsi/gomega", "github.com/onsi/ginkgo/v2"}

// anyNames is every name of exported (top-level, Type.Name, and a method or
// field's bare name) in this module's packages and the dot-imported ones.
func anyNames(exported map[string]map[string]bool) map[string]bool {
	all := map[string]bool{}
	for _, names := range exported {
		for n := range names {
			all[n] = true
			if _, m, ok := strings.Cut(n, "."); ok {
				all[m] = true
			}
		}
	}
	out, err := exec.Command("go", append([]string{"list", "-f", "{{.Dir}}"}, dotImported...)...).Output()
	if err != nil {
		report("go.mod", 0, "go list %v: %v", dotImported, err)
		return all
	}
	for _, dir := range strings.Fields(string(out)) {
		for n := range parseDir(dir) {
			all[n] = true
		}
	}
	return all
}

// parseDir returns the exported names of the package in dir (non-test files).
func parseDir(dir string) map[string]bool {
	names := map[string]bool{}
	fset := token.NewFileSet()
	paths, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			report(p, 0, "parse: %v", err)
			continue
		}
		for _, decl := range f.Decls {
			switch decl := decl.(type) {
			case *ast.FuncDecl:
				if decl.Recv == nil {
					names[decl.Name.Name] = true
					continue
				}
				t := decl.Recv.List[0].Type
				if s, ok := t.(*ast.StarExpr); ok {
					t = s.X
				}
				if g, ok := t.(*ast.IndexExpr); ok {
					t = g.X
				}
				if id, ok := t.(*ast.Ident); ok {
					names[id.Name+"."+decl.Name.Name] = true
				}
			case *ast.GenDecl:
				for _, spec := range decl.Specs {
					switch spec := spec.(type) {
					case *ast.TypeSpec:
						names[spec.Name.Name] = true
						switch t := spec.Type.(type) {
						case *ast.StructType:
							for _, fld := range t.Fields.List {
								for _, n := range fld.Names {
									names[spec.Name.Name+"."+n.Name] = true
								}
							}
						case *ast.InterfaceType:
							for _, fld := range t.Methods.List {
								for _, n := range fld.Names {
									names[spec.Name.Name+"."+n.Name] = true
								}
							}
						}
					case *ast.ValueSpec:
						for _, n := range spec.Names {
							names[n.Name] = true
						}
					}
				}
			}
		}
	}
	return names
}

var pathRe = regexp.MustCompile(`(?:^|[\s(` + "`" + `])((?:\.ci|examples|suites|ci|realpy|python|cmd|harness|isolation|internal|wire|mockpy|gotest|docs)/[\w./-]*)`)

// checkPaths: a repository path in a code span (suites/host/matrix_test.go,
// examples/sentiment/) names a file or directory that exists.
func checkPaths(d *doc) {
	for _, i := range d.prose {
		for _, span := range codeSpanRe.FindAllString(d.lines[i], -1) {
			for _, m := range pathRe.FindAllStringSubmatch(span, -1) {
				p := strings.TrimRight(m[1], "./")
				if strings.ContainsAny(p, "*") {
					continue
				}
				if _, err := os.Stat(p); err != nil {
					report(d.path, i+1, "%s: no such file or directory in the repository", p)
				}
			}
		}
	}
}

var (
	bareCallRe   = regexp.MustCompile(`(?:^|[^.\w])([A-Z]\w*)\(`)
	typeMemberRe = regexp.MustCompile(`(?:^|[^.\w])([A-Z]\w*)\.([A-Z]\w*)\b`)
)

// checkBare: in code spans, a bare call (WithSize(8), Fresh(ctx)) names an
// exported function or method of this module or of Ginkgo and Gomega, and a
// Type.Member (Output.Dropped) a method or field of one of this module's types.
func checkBare(d *doc, exported map[string]map[string]bool, all map[string]bool) {
	members := map[string]bool{}
	for _, names := range exported {
		for n := range names {
			members[n] = true
		}
	}
	for _, i := range d.prose {
		for _, span := range codeSpanRe.FindAllString(d.lines[i], -1) {
			for _, m := range bareCallRe.FindAllStringSubmatch(span, -1) {
				if !all[m[1]] {
					report(d.path, i+1, "%s(: no exported function or method of that name in pyharness, Ginkgo or Gomega (in %s)", m[1], span)
				}
			}
			for _, m := range typeMemberRe.FindAllStringSubmatch(span, -1) {
				if !members[m[1]+"."+m[2]] {
					report(d.path, i+1, "%s.%s: no type %s with a method or field %s in pyharness (in %s)", m[1], m[2], m[1], m[2], span)
				}
			}
		}
	}
}

// sourceText is every non-markdown file of the module that is not a doc:
// Go, Python and the ci scripts, where variables and commands are defined.
func sourceText(root string) []byte {
	var buf bytes.Buffer
	filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if e.IsDir() {
			if n := e.Name(); p != root && (strings.HasPrefix(n, ".") || strings.HasPrefix(n, "_") || n == "docs" || n == "docscheck") {
				return filepath.SkipDir
			}
			return nil
		}
		if ext := filepath.Ext(p); ext == ".go" || ext == ".py" || ext == ".sh" || ext == "" {
			if data, err := os.ReadFile(p); err == nil && !bytes.Contains(data[:min(len(data), 512)], []byte{0}) {
				buf.Write(data)
				buf.WriteByte('\n')
			}
		}
		return nil
	})
	return buf.Bytes()
}

var envRe = regexp.MustCompile(`\bPYHARNESS_[A-Z0-9_]*[A-Z0-9]\b`)

// checkEnv: every PYHARNESS_ variable the docs name is read or set by the code.
func checkEnv(d *doc, sources []byte) {
	for i, l := range d.lines {
		for _, v := range envRe.FindAllString(l, -1) {
			if !bytes.Contains(sources, []byte(`"`+v+`"`)) && !bytes.Contains(sources, []byte(v+"=")) && !bytes.Contains(sources, []byte("${"+v)) && !bytes.Contains(sources, []byte("$"+v)) {
				report(d.path, i+1, "%s: no Go, Python or ci file reads or sets this variable", v)
			}
		}
	}
}

var (
	benchRe     = regexp.MustCompile(`-bench[= ]'?([^'\s]+)'?.*?\s\./([\w/]+?)/?(?:[\s` + "`" + `|]|$)`)
	benchFuncRe = regexp.MustCompile(`(?m)^func (Benchmark\w+)\(`)
)

// checkBenchmarks: every `go test -bench PATTERN ./dir/` the docs give
// selects, for each alternative of PATTERN, a benchmark of that package.
func checkBenchmarks(d *doc) {
	for i, l := range d.lines {
		for _, m := range benchRe.FindAllStringSubmatch(strings.ReplaceAll(l, `\|`, "|"), -1) {
			paths, _ := filepath.Glob(filepath.Join(m[2], "*_test.go"))
			var names []string
			for _, p := range paths {
				data, _ := os.ReadFile(p)
				for _, f := range benchFuncRe.FindAllStringSubmatch(string(data), -1) {
					names = append(names, f[1])
				}
			}
			for _, alt := range strings.Split(m[1], "|") {
				if alt == "" || alt == "^$" {
					continue
				}
				re, err := regexp.Compile(alt)
				if err != nil {
					report(d.path, i+1, "-bench %s: %v", m[1], err)
					continue
				}
				if !slices.ContainsFunc(names, re.MatchString) {
					report(d.path, i+1, "-bench %s ./%s/: no benchmark of %s matches %q", m[1], m[2], m[2], alt)
				}
			}
		}
	}
}

var cmdRe = regexp.MustCompile(`cmd/pyharness (-{0,2}[a-z][\w-]*)`)

// checkCommands: every `pyharness CMD` run through go run names a command
// of cmd/pyharness.
func checkCommands(d *doc, sources []byte) {
	for i, l := range d.lines {
		for _, m := range cmdRe.FindAllStringSubmatch(l, -1) {
			if strings.HasPrefix(m[1], "-") {
				continue
			}
			if !bytes.Contains(sources, []byte(`name:    "`+m[1]+`"`)) && !bytes.Contains(sources, []byte(`case "`+m[1]+`"`)) {
				report(d.path, i+1, "pyharness %s: cmd/pyharness has no such command", m[1])
			}
		}
	}
}
