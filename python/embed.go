// Package python embeds the Python side of pyharness, so that a Go program
// importing pyharness can run the worker without a checkout of this
// repository: realpy writes these files to a cache directory named by their
// content hash and puts it on PYTHONPATH.
package python

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"sort"
)

// Worker holds the pyharness_worker package (the *.py files only).
//
//go:embed pyharness_worker/*.py
var Worker embed.FS

// Dockerfile builds the worker image: ARG BASE picks the Python base image.
//
//go:embed Dockerfile
var Dockerfile []byte

// WorkerFiles returns the embedded worker sources by path
// ("pyharness_worker/server.py", ...).
func WorkerFiles() (map[string][]byte, error) {
	files := map[string][]byte{}
	err := fs.WalkDir(Worker, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(Worker, path)
		files[path] = data
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("python: read embedded worker: %w", err)
	}
	if len(files) == 0 {
		return nil, errors.New("python: no embedded worker sources")
	}
	return files, nil
}

// Names returns the paths of files in order.
func Names(files map[string][]byte) []string {
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Hash returns the hex SHA-256 of salt and of files (names, sizes and
// contents, in name order): what names a cache directory or an image tag.
func Hash(files map[string][]byte, salt ...string) string {
	h := sha256.New()
	for _, s := range salt {
		fmt.Fprintf(h, "%s\x00", s)
	}
	for _, name := range Names(files) {
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(files[name]))
		h.Write(files[name])
	}
	return hex.EncodeToString(h.Sum(nil))
}
