// Package pytree reads the files of a Python path directory safely: regular
// files only (a FIFO or device named x.py is never opened for a blocking
// read), within the caller's context, leaving out editor lock, swap and
// backup files, and saying what it left out.
package pytree

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// Skipped is an entry a walk left out, and why.
type Skipped struct {
	Path string
	Why  string // "editor lock file", "swap file", "backup file", "not a regular file (fifo)", "dangling link", "unreadable: ..."
}

func (s Skipped) String() string { return s.Path + " (" + s.Why + ")" }

// Junk says why a file name is an editor's lock, swap or backup file ("" if
// it is none): .#name (Emacs lock), #name# (Emacs auto-save), .name.swp and
// its kin (Vim swap), name~ and name.bak/.orig (backups).
func Junk(name string) string {
	switch {
	case strings.HasPrefix(name, ".#"):
		return "editor lock file"
	case strings.HasPrefix(name, "#") && strings.HasSuffix(name, "#") && len(name) > 1:
		return "editor auto-save file"
	case strings.HasPrefix(name, ".") && slices.Contains([]string{".swp", ".swo", ".swx", ".swn"}, filepath.Ext(name)):
		return "swap file"
	case strings.HasSuffix(name, "~"), strings.HasSuffix(name, ".bak"), strings.HasSuffix(name, ".orig"):
		return "backup file"
	}
	return ""
}

// junkBase is the name a lock, swap or backup file stands for
// (".#mod.py" and "mod.py~" stand for "mod.py").
func junkBase(rel string) string {
	dir, name := path.Split(rel)
	name = strings.TrimPrefix(strings.TrimPrefix(name, "."), "#")
	for _, suffix := range []string{"#", "~", ".bak", ".orig", ".swp", ".swo", ".swx", ".swn"} {
		name = strings.TrimSuffix(name, suffix)
	}
	return dir + name
}

// OpenRegular opens path for reading if it is (or links to) a regular
// file. It never blocks on a FIFO: the open is non-blocking, and what it
// opened is checked before it is read. A non-regular file returns an error
// that Why describes.
func OpenRegular(path string) (*os.File, fs.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, nil, &notRegularError{path: path, mode: st.Mode()}
	}
	return f, st, nil
}

type notRegularError struct {
	path string
	mode fs.FileMode
}

func (e *notRegularError) Error() string { return fmt.Sprintf("%s: %s", e.path, why(e.mode)) }

func why(mode fs.FileMode) string {
	kind := "special file"
	switch {
	case mode&fs.ModeNamedPipe != 0:
		kind = "fifo"
	case mode&fs.ModeSocket != 0:
		kind = "socket"
	case mode&fs.ModeCharDevice != 0:
		kind = "character device"
	case mode&fs.ModeDevice != 0:
		kind = "device"
	}
	return "not a regular file (" + kind + ")"
}

// Why describes an error of OpenRegular as a reason to skip the file.
func Why(err error) string {
	var nr *notRegularError
	switch {
	case errors.As(err, &nr):
		return why(nr.mode)
	case errors.Is(err, fs.ErrNotExist):
		return "dangling link"
	case errors.Is(err, syscall.ELOOP):
		return "link loop"
	case errors.Is(err, fs.ErrPermission):
		return "unreadable: permission denied"
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return "unreadable: " + pe.Err.Error()
	}
	return "unreadable: " + err.Error()
}

// Entry is one regular file a walk visits.
type Entry struct {
	Path string // the path under the walked directory (not resolved)
	Rel  string // relative to it, with forward slashes
	File *os.File
	Info fs.FileInfo
}

// SkipError, returned by Walk's fn, leaves the file out (Why says why)
// and goes on.
type SkipError struct{ Why string }

func (e *SkipError) Error() string { return e.Why }

// Walk calls fn for every regular file under dir that keep accepts (by its
// relative path; nil keeps all), in lexical order, with the file open. It
// follows links to files and directories (a link loop is skipped), leaves
// out __pycache__ directories and editor lock, swap and backup files, and
// returns what it left out. dir itself missing is no error (nothing is on
// that path). It stops with ctx's error once ctx is done. dirFn, if not
// nil, is called for each directory below dir; filepath.SkipDir from it
// leaves that directory out.
func Walk(ctx context.Context, dir string, keep func(rel string) bool, dirFn func(rel string, info fs.FileInfo) error, fn func(Entry) error) ([]Skipped, error) {
	var skipped []Skipped
	seen := map[string]bool{}
	var walk func(root, prefix string) error
	walk = func(root, prefix string) error {
		if real, err := filepath.EvalSymlinks(root); err == nil {
			if seen[real] {
				skipped = append(skipped, Skipped{Path: root, Why: "link loop"})
				return nil
			}
			seen[real] = true
			defer delete(seen, real)
		}
		return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if cerr := ctx.Err(); cerr != nil {
				return cerr
			}
			if err != nil {
				if p == root && errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				skipped = append(skipped, Skipped{Path: p, Why: Why(err)})
				if d != nil && d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if p == root {
				return nil
			}
			rel, _ := filepath.Rel(root, p)
			rel = filepath.ToSlash(filepath.Join(prefix, rel))
			name := d.Name()
			if d.IsDir() {
				if name == "__pycache__" {
					return filepath.SkipDir
				}
				if dirFn != nil {
					info, err := d.Info()
					if err != nil {
						skipped = append(skipped, Skipped{Path: p, Why: Why(err)})
						return filepath.SkipDir
					}
					return dirFn(rel, info)
				}
				return nil
			}
			if j := Junk(name); j != "" {
				if keep == nil || keep(junkBase(rel)) {
					skipped = append(skipped, Skipped{Path: p, Why: j})
				}
				return nil
			}
			if d.Type()&fs.ModeSymlink != 0 {
				if st, err := os.Stat(p); err == nil && st.IsDir() {
					if name == "__pycache__" {
						return nil
					}
					if dirFn != nil {
						if err := dirFn(rel, st); errors.Is(err, filepath.SkipDir) {
							return nil
						} else if err != nil {
							return err
						}
					}
					return walk(p, rel) // WalkDir does not descend into a linked directory
				}
			}
			if keep != nil && !keep(rel) {
				return nil
			}
			f, info, err := OpenRegular(p)
			if err != nil {
				skipped = append(skipped, Skipped{Path: p, Why: Why(err)})
				return nil
			}
			defer f.Close()
			err = fn(Entry{Path: p, Rel: rel, File: f, Info: info})
			var skip *SkipError
			if errors.As(err, &skip) {
				skipped = append(skipped, Skipped{Path: p, Why: skip.Why})
				return nil
			}
			return err
		})
	}
	err := walk(dir, "")
	return skipped, err
}

// Line is the one warning line naming what a walk left out ("" for none).
func Line(what string, skipped []Skipped) string {
	if len(skipped) == 0 {
		return ""
	}
	names := make([]string, len(skipped))
	for i, s := range skipped {
		names[i] = s.String()
	}
	return fmt.Sprintf("pyharness: warning: %s left out %d entr%s: %s", what, len(skipped), plural(len(skipped)), strings.Join(names, ", "))
}

func plural(n int) string {
	if n == 1 {
		return "y"
	}
	return "ies"
}
