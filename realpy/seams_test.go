package realpy

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// declared returns the functions and methods a file of the package declares.
func declared(file string) []string {
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	Expect(err).NotTo(HaveOccurred())
	var names []string
	for _, d := range f.Decls {
		if fn, ok := d.(*ast.FuncDecl); ok {
			names = append(names, fn.Name.Name)
		}
	}
	return names
}

// called returns the names file calls, as functions or methods.
func called(file string) []string {
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	Expect(err).NotTo(HaveOccurred())
	var names []string
	ast.Inspect(f, func(n ast.Node) bool {
		if call, ok := n.(*ast.CallExpr); ok {
			switch fn := call.Fun.(type) {
			case *ast.Ident:
				names = append(names, fn.Name)
			case *ast.SelectorExpr:
				names = append(names, fn.Sel.Name)
			}
		}
		return true
	})
	return names
}

var _ = Describe("The client's seams", func() {
	It("run one way: cancellation calls nothing of calls, calls call into cancellation", func() {
		calls, cancel := declared("client_calls.go"), declared("client_cancel.go")
		var back []string
		for _, name := range called("client_cancel.go") {
			if slices.Contains(calls, name) && !slices.Contains(cancel, name) {
				back = append(back, name)
			}
		}
		Expect(back).To(BeEmpty(), "client_cancel.go calls into client_calls.go")
		Expect(called("client_calls.go")).To(ContainElements("cancelled", "settle"))
	})
})
