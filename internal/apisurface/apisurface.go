// Package apisurface is the logic of the apisurface command
// (internal/cmd/apisurface): it records the exported API of pyharness's
// public packages, one line per exported const, var, func, type, method and
// struct field or interface method, so that CI (ci/api) can tell when the
// surface changed. Its specs are in the suites binary
// (suites/internal/unit/apisurface.go).
//
// The public packages are those of ./... that are not main packages and not
// under internal/, suites/, examples/, cmd/ or testdata/. The surface is read
// with go/types from the packages' export data (go list -export), so it is the
// compiler's view: constants carry their values, methods promoted through
// unexported embedded fields are listed, methods of unexported types are not.
package apisurface

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// Run prints the surface of the public packages named by patterns (every
// public package of the module in the working directory with none) to
// stdout, or with write writes one file per package under dir (api/ at
// the module root when dir is ""); a run of every package removes the .txt
// files under dir that no package wrote.
func Run(stdout io.Writer, write bool, dir string, patterns []string) error {
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

// DocCounts prints, per package, how many lines go doc -short shows: the
// screenful a reader of the package's documentation starts from.
func DocCounts(stdout io.Writer, patterns []string) error {
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

// Private reports whether a package of the module is not part of its public
// surface.
func Private(modPath, pkg string) bool {
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
		if len(p.GoFiles) == 0 || p.Name == "main" || (all && Private(modPath, p.ImportPath)) {
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
