// Package python embeds the Python side of pyharness, so that a Go program
// importing pyharness can run the worker without a checkout of this
// repository: realpy writes these files to a cache directory named by their
// content hash and puts it on PYTHONPATH.
package python

import "embed"

// Worker holds the pyharness_worker package (the *.py files only).
//
//go:embed pyharness_worker/*.py
var Worker embed.FS

// Dockerfile builds the worker image: ARG BASE picks the Python base image.
//
//go:embed Dockerfile
var Dockerfile []byte
