package apisurface

import (
	"bytes"
	"fmt"
	"go/constant"
	"go/importer"
	"go/token"
	"go/types"
	"io"
	"os"
	"strings"
	"time"
)

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
