// Command apisurface records the exported API of pyharness's public packages,
// one line per exported const, var, func, type, method and struct field or
// interface method, so that CI (ci/api) can tell when the surface changed.
//
//	go run ./internal/cmd/apisurface          # print every public package's surface
//	go run ./internal/cmd/apisurface -write   # regenerate api/ (one file per package)
//	go run ./internal/cmd/apisurface -write -dir /tmp/x ./realpy
//	go run ./internal/cmd/apisurface -doc     # go doc -short line count per package
//
// The public packages are those of ./... that are not main packages and not
// under internal/, suites/, examples/, cmd/ or testdata/. The surface is read
// with go/types from the packages' export data (go list -export), so it is the
// compiler's view: constants carry their values, methods promoted through
// unexported embedded fields are listed, methods of unexported types are not.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"go/constant"
	"go/importer"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

func main() {
	write := flag.Bool("write", false, "write one file per package under -dir instead of printing to stdout")
	doc := flag.Bool("doc", false, "print the line count of go doc -short of each package instead")
	dir := flag.String("dir", "", "where -write puts the files (default: api/ at the module root); .txt files there that no package wrote are removed")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: apisurface [-write [-dir DIR]] [packages]\n\nWith no packages: every public package of the module.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *doc {
		if err := docCounts(os.Stdout, flag.Args()); err != nil {
			fmt.Fprintln(os.Stderr, "apisurface:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(os.Stdout, *write, *dir, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "apisurface:", err)
		os.Exit(1)
	}
}

func run(stdout io.Writer, write bool, dir string, patterns []string) error {
	mod, err := goList1("-m", "-f", "{{.Path}}\t{{.Dir}}")
	if err != nil {
		return err
	}
	modPath, modDir, _ := strings.Cut(strings.TrimSpace(mod), "\t")
	if dir == "" {
		dir = filepath.Join(modDir, "api")
	}
	pkgs, err := publicPackages(modPath, patterns)
	if err != nil {
		return err
	}
	if len(pkgs) == 0 {
		return fmt.Errorf("no public packages in %v", patterns)
	}
	surfaces, err := Surfaces(pkgs)
	if err != nil {
		return err
	}
	if !write {
		for _, p := range pkgs {
			fmt.Fprint(stdout, surfaces[p])
		}
		return nil
	}
	written := map[string]bool{}
	for _, p := range pkgs {
		file := filepath.Join(dir, FileName(modPath, p))
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(file, []byte(surfaces[p]), 0o644); err != nil {
			return err
		}
		written[file] = true
	}
	if len(patterns) > 0 {
		return nil // a partial run leaves the other packages' files alone
	}
	return filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".txt") || written[path] {
			return err
		}
		return os.Remove(path) // a package that is gone, or no longer public
	})
}

// docCounts prints, per package, how many lines go doc -short shows: the
// screenful a reader of the package's documentation starts from.
func docCounts(stdout io.Writer, patterns []string) error {
	mod, err := goList1("-m")
	if err != nil {
		return err
	}
	pkgs, err := publicPackages(strings.TrimSpace(mod), patterns)
	if err != nil {
		return err
	}
	for _, p := range pkgs {
		out, err := exec.Command("go", "doc", "-short", p).Output()
		if err != nil {
			return fmt.Errorf("go doc -short %s: %v", p, err)
		}
		fmt.Fprintf(stdout, "%4d  %s\n", bytes.Count(out, []byte("\n")), p)
	}
	return nil
}

// FileName is where the surface of pkg goes under api/: its path inside the
// module plus .txt, and pyharness.txt for the module's root package.
func FileName(modPath, pkg string) string {
	rel := strings.TrimPrefix(strings.TrimPrefix(pkg, modPath), "/")
	if rel == "" {
		rel = pkg[strings.LastIndex(pkg, "/")+1:]
	}
	return filepath.FromSlash(rel) + ".txt"
}

// private reports whether a package of the module is not part of its public
// surface.
func private(modPath, pkg string) bool {
	rel := strings.TrimPrefix(strings.TrimPrefix(pkg, modPath), "/")
	for _, elem := range strings.Split(rel, "/") {
		switch elem {
		case "internal", "suites", "examples", "cmd", "testdata":
			return true
		}
	}
	return false
}

type listed struct {
	ImportPath string
	Name       string
	GoFiles    []string
	Export     string
	Error      *struct{ Err string }
}

func goList1(args ...string) (string, error) {
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go list %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return string(out), nil
}

func goList(args ...string) ([]listed, error) {
	out, err := goList1(append([]string{"-e", "-json=ImportPath,Name,GoFiles,Export,Error"}, args...)...)
	if err != nil {
		return nil, err
	}
	var pkgs []listed
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var p listed
		if err := dec.Decode(&p); err != nil {
			return nil, fmt.Errorf("go list: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs, nil
}

// publicPackages lists the packages named by patterns, or with none every
// public package of the module, sorted by import path.
func publicPackages(modPath string, patterns []string) ([]string, error) {
	all := len(patterns) == 0
	if all {
		patterns = []string{"./..."}
	}
	listedPkgs, err := goList(patterns...)
	if err != nil {
		return nil, err
	}
	var pkgs []string
	for _, p := range listedPkgs {
		if len(p.GoFiles) == 0 || p.Name == "main" || (all && private(modPath, p.ImportPath)) {
			continue // test-only directories, commands, internals
		}
		if p.Error != nil {
			return nil, fmt.Errorf("%s: %s", p.ImportPath, p.Error.Err)
		}
		pkgs = append(pkgs, p.ImportPath)
	}
	sort.Strings(pkgs)
	return pkgs, nil
}

// Surfaces builds the packages (go list -export) and returns the surface
// text of each, by import path.
func Surfaces(pkgs []string) (map[string]string, error) {
	deps, err := goList(append([]string{"-export", "-deps"}, pkgs...)...)
	if err != nil {
		return nil, err
	}
	exports := map[string]string{}
	for _, p := range deps {
		if p.Error != nil {
			return nil, fmt.Errorf("%s: %s", p.ImportPath, p.Error.Err)
		}
		exports[p.ImportPath] = p.Export
	}
	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		file, ok := exports[path]
		if !ok || file == "" {
			return nil, fmt.Errorf("no export data for %s", path)
		}
		return os.Open(file)
	})
	out := map[string]string{}
	for _, path := range pkgs {
		pkg, err := imp.Import(path)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %v", path, err)
		}
		out[path] = Surface(pkg)
	}
	return out, nil
}

// Surface is the exported API of pkg: a header line, then consts, vars,
// funcs, and each type followed by its fields and methods. Names within each
// group are sorted; struct fields keep their declaration order.
func Surface(pkg *types.Package) string {
	var consts, vars, funcs, typeNames []string
	scope := pkg.Scope()
	for _, name := range scope.Names() { // sorted
		if !token.IsExported(name) {
			continue
		}
		switch obj := scope.Lookup(name).(type) {
		case *types.Const:
			consts = append(consts, name)
		case *types.Var:
			vars = append(vars, name)
		case *types.Func:
			funcs = append(funcs, name)
		case *types.TypeName:
			_ = obj
			typeNames = append(typeNames, name)
		}
	}
	p := &printer{pkg: pkg}
	fmt.Fprintf(&p.buf, "# %s: exported API, written by go run ./internal/cmd/apisurface -write; do not edit\n", pkg.Path())
	for _, name := range consts {
		c := scope.Lookup(name).(*types.Const)
		val := c.Val().ExactString()
		if isDuration(c.Type()) { // 2000000000 reads better as 2s
			if ns, ok := constant.Int64Val(c.Val()); ok {
				val += " (" + time.Duration(ns).String() + ")"
			}
		}
		p.line("const %s %s = %s", name, p.typ(c.Type()), val)
	}
	for _, name := range vars {
		p.line("var %s %s", name, p.typ(scope.Lookup(name).Type()))
	}
	for _, name := range funcs {
		sig := scope.Lookup(name).Type().(*types.Signature)
		p.line("func %s%s%s", name, p.typeParams(sig.TypeParams()), p.signature(sig))
	}
	for _, name := range typeNames {
		p.typeDecl(scope.Lookup(name).(*types.TypeName))
	}
	return p.buf.String()
}

func isDuration(t types.Type) bool {
	n, ok := t.(*types.Named)
	return ok && n.Obj().Pkg() != nil && n.Obj().Pkg().Path() == "time" && n.Obj().Name() == "Duration"
}

type printer struct {
	pkg *types.Package
	buf bytes.Buffer
}

func (p *printer) line(format string, args ...any) {
	fmt.Fprintf(&p.buf, format+"\n", args...)
}

// qualifier writes the package's own names bare and others as name.Ident.
func (p *printer) qualifier(other *types.Package) string {
	if other == p.pkg {
		return ""
	}
	return other.Name()
}

// typ is t as the package itself would write it, without parameter names in
// func types (they are not part of the API: renaming one changes nothing for
// a caller).
func (p *printer) typ(t types.Type) string { return types.TypeString(unnamed(t), p.qualifier) }

// signature is sig without receiver and parameter names:
// "(context.Context, ...Option) (*Pool, error)".
func (p *printer) signature(sig *types.Signature) string {
	return strings.TrimPrefix(p.typ(sig), "func")
}

// unnamed is t with the parameter names of the func types in it dropped (of
// the ones it is made of directly: a func type inside an anonymous struct or
// interface, or a named type's type arguments, keeps them).
func unnamed(t types.Type) types.Type {
	switch t := t.(type) {
	case *types.Pointer:
		return types.NewPointer(unnamed(t.Elem()))
	case *types.Slice:
		return types.NewSlice(unnamed(t.Elem()))
	case *types.Array:
		return types.NewArray(unnamed(t.Elem()), t.Len())
	case *types.Map:
		return types.NewMap(unnamed(t.Key()), unnamed(t.Elem()))
	case *types.Chan:
		return types.NewChan(t.Dir(), unnamed(t.Elem()))
	case *types.Signature:
		tuple := func(t *types.Tuple) *types.Tuple {
			vars := make([]*types.Var, t.Len())
			for i := range vars {
				vars[i] = types.NewParam(token.NoPos, nil, "", unnamed(t.At(i).Type()))
			}
			return types.NewTuple(vars...)
		}
		return types.NewSignatureType(nil, nil, nil, tuple(t.Params()), tuple(t.Results()), t.Variadic())
	}
	return t
}

func (p *printer) typeParams(tps *types.TypeParamList) string {
	if tps.Len() == 0 {
		return ""
	}
	parts := make([]string, tps.Len())
	for i := range parts {
		tp := tps.At(i)
		parts[i] = tp.Obj().Name() + " " + p.typ(tp.Constraint())
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// typeArgs is "[K, V]" for a generic type's own parameters, as its methods'
// receivers and its fields' lines name it.
func typeArgs(tps *types.TypeParamList) string {
	if tps.Len() == 0 {
		return ""
	}
	parts := make([]string, tps.Len())
	for i := range parts {
		parts[i] = tps.At(i).Obj().Name()
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func (p *printer) typeDecl(tn *types.TypeName) {
	name := tn.Name()
	if tn.IsAlias() {
		p.line("type %s = %s", name, p.typ(types.Unalias(tn.Type())))
		return
	}
	named, ok := tn.Type().(*types.Named)
	if !ok {
		p.line("type %s %s", name, p.typ(tn.Type().Underlying()))
		return
	}
	self := name + typeArgs(named.TypeParams())
	head := "type " + name + p.typeParams(named.TypeParams())
	switch u := named.Underlying().(type) {
	case *types.Struct:
		p.line("%s struct", head)
		p.fields(self, u, nil)
	case *types.Interface:
		if !u.IsMethodSet() { // a constraint: its type set is the API
			p.line("%s %s", head, p.typ(u))
			return
		}
		p.line("%s interface", head)
		for i := 0; i < u.NumMethods(); i++ { // sorted, embedded interfaces' included
			m := u.Method(i)
			if m.Exported() {
				p.line("method %s.%s%s", self, m.Name(), p.signature(m.Type().(*types.Signature)))
			} else {
				p.line("method %s.%s (unexported: only this package can implement %s)", self, m.Name(), name)
			}
		}
	default:
		p.line("%s %s", head, p.typ(u))
	}
	p.methods(self, named)
}

// fields lists the exported fields of s as fields of self, in declaration
// order. Exported fields of an unexported embedded struct are promoted, so
// they are listed too, with the path they come through.
func (p *printer) fields(self string, s *types.Struct, via []string) {
	for i := 0; i < s.NumFields(); i++ {
		f := s.Field(i)
		suffix := ""
		if len(via) > 0 {
			suffix = " (promoted via " + strings.Join(via, ".") + ")"
		}
		if f.Exported() {
			kind := "field"
			if f.Embedded() {
				kind = "embedded"
			}
			tag := ""
			if t := s.Tag(i); t != "" { // json tags are wire's protocol
				tag = " `" + t + "`"
			}
			p.line("%s %s.%s %s%s%s", kind, self, f.Name(), p.typ(f.Type()), tag, suffix)
			continue
		}
		if !f.Embedded() {
			continue
		}
		t := f.Type()
		if ptr, ok := t.(*types.Pointer); ok {
			t = ptr.Elem()
		}
		if inner, ok := t.Underlying().(*types.Struct); ok {
			p.fields(self, inner, append(via, f.Name()))
		}
	}
}

// methods lists the exported methods of named: those it declares, and those
// promoted to it through an unexported embedded field (the ones through an
// exported embedded field are that field's type's API).
func (p *printer) methods(self string, named *types.Named) {
	_, isIface := named.Underlying().(*types.Interface)
	if isIface {
		return
	}
	if tps := named.TypeParams(); tps.Len() > 0 {
		// Methods of a generic type name its parameters as their receivers
		// do (func (l *List[E]) Push(E)); instantiated with its own
		// parameters, the type's methods all use its declared names.
		targs := make([]types.Type, tps.Len())
		for i := range targs {
			targs[i] = tps.At(i)
		}
		if inst, err := types.Instantiate(nil, named, targs, false); err == nil {
			named = inst.(*types.Named)
		}
	}
	valueSet := types.NewMethodSet(named)
	ptrSet := types.NewMethodSet(types.NewPointer(named))
	st, _ := named.Underlying().(*types.Struct)
	for i := 0; i < ptrSet.Len(); i++ { // sorted by name
		sel := ptrSet.At(i)
		m := sel.Obj().(*types.Func)
		if !m.Exported() {
			continue
		}
		recv := "*" + self
		if valueSet.Lookup(m.Pkg(), m.Name()) != nil {
			recv = self
		}
		suffix := ""
		if idx := sel.Index(); len(idx) > 1 {
			if st == nil || st.Field(idx[0]).Exported() {
				continue
			}
			path := []string{}
			t := types.Type(named)
			for _, j := range idx[:len(idx)-1] {
				if ptr, ok := t.(*types.Pointer); ok {
					t = ptr.Elem()
				}
				f := t.Underlying().(*types.Struct).Field(j)
				path = append(path, f.Name())
				t = f.Type()
			}
			suffix = " (promoted via " + strings.Join(path, ".") + ")"
		}
		p.line("method (%s) %s%s%s", recv, m.Name(), p.signature(m.Type().(*types.Signature)), suffix)
	}
}
