// Command apisurface records the exported API of pyharness's public packages,
// one line per exported const, var, func, type, method and struct field or
// interface method, so that CI (ci/api) can tell when the surface changed.
//
//	go run ./internal/cmd/apisurface          # print every public package's surface
//	go run ./internal/cmd/apisurface -write   # regenerate api/ (one file per package)
//	go run ./internal/cmd/apisurface -write -dir /tmp/x ./realpy
//	go run ./internal/cmd/apisurface -doc     # go doc -short line count per package
//
// The work is internal/apisurface's (whose specs are in the suites binary);
// this is its command line.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/pyharness/pyharness/internal/apisurface"
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
		if err := apisurface.DocCounts(os.Stdout, flag.Args()); err != nil {
			fmt.Fprintln(os.Stderr, "apisurface:", err)
			os.Exit(1)
		}
		return
	}
	if err := apisurface.Run(os.Stdout, *write, *dir, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "apisurface:", err)
		os.Exit(1)
	}
}
