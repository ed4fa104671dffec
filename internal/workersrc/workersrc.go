// Package workersrc unpacks the embedded Python worker package into the
// cache directory, for the interpreters pyharness starts.
package workersrc

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/pyharness/pyharness/python"
)

// CompleteMarker is the file that marks a finished copy of the sources; it
// holds their hash.
const CompleteMarker = ".complete"

// Dir returns a directory holding the pyharness_worker package, ready
// to be put on PYTHONPATH. The embedded sources are written once per content
// hash under the user cache directory (or $PYHARNESS_CACHE_DIR); concurrent
// callers, including parallel Ginkgo processes, share the same directory.
func Dir() (string, error) {
	sum, files, err := embeddedWorker()
	if err != nil {
		return "", err
	}
	root, err := CacheDir()
	if err != nil {
		return "", err
	}
	final := filepath.Join(root, "worker-"+sum[:16])
	if _, err := os.Stat(filepath.Join(final, CompleteMarker)); err == nil {
		return final, nil
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", fmt.Errorf("realpy: worker source: %w", err)
	}
	tmp, err := os.MkdirTemp(root, ".worker-*")
	if err != nil {
		return "", fmt.Errorf("realpy: worker source: %w", err)
	}
	defer os.RemoveAll(tmp)
	for name, data := range files {
		path := filepath.Join(tmp, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return "", fmt.Errorf("realpy: worker source: %w", err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return "", fmt.Errorf("realpy: worker source: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(tmp, CompleteMarker), []byte(sum+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("realpy: worker source: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		// Another process won the race; its copy is identical.
		if _, statErr := os.Stat(filepath.Join(final, CompleteMarker)); statErr == nil {
			return final, nil
		}
		return "", fmt.Errorf("realpy: worker source: %w", err)
	}
	return final, nil
}

// CacheDir is where pyharness keeps files between runs: $PYHARNESS_CACHE_DIR,
// else pyharness under the user cache directory (or the temp directory).
func CacheDir() (string, error) {
	if dir := os.Getenv("PYHARNESS_CACHE_DIR"); dir != "" {
		return dir, nil
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "pyharness"), nil
}

// embeddedWorker returns the hash of the embedded sources and their contents.
func embeddedWorker() (string, map[string][]byte, error) {
	files, err := python.WorkerFiles()
	if err != nil {
		return "", nil, fmt.Errorf("realpy: %w", err)
	}
	return python.Hash(files), files, nil
}
