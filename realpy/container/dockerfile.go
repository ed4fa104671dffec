// WithDockerfile: the user's Dockerfile and its context, hashed.

package container

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/testcontainers/testcontainers-go"
)

// dockerfileStep builds the Dockerfile in dir with BASE=base.
func dockerfileStep(ctx context.Context, cli *testcontainers.DockerClient, dir, base string) (ImageStep, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return ImageStep{}, fmt.Errorf("pyharness image: WithDockerfile(%q): %w", dir, err)
	}
	text, err := os.ReadFile(filepath.Join(abs, "Dockerfile"))
	if err != nil {
		return ImageStep{}, fmt.Errorf("pyharness image: WithDockerfile(%q): %w", dir, err)
	}
	archive, err := tarDir(ctx, abs, "")
	if err != nil {
		return ImageStep{}, fmt.Errorf("pyharness image: WithDockerfile(%q): the build context: %w", dir, err)
	}
	// The FROM images by id: one rebuilt under the same name is a new image.
	parts := []string{"dockerfile/v1", "BASE=" + base}
	for _, ref := range fromImages(string(text), base) {
		id, err := imageID(ctx, cli, ref)
		if err != nil {
			return ImageStep{}, fmt.Errorf("pyharness image: WithDockerfile(%q): FROM %s: the engine has no such image (%v): build or load it first, or build on the base image with ARG BASE and FROM ${BASE}", dir, ref, err)
		}
		parts = append(parts, ref+"="+id)
	}
	hash := contentHash(append(parts, string(archive))...)
	step := ImageStep{Kind: KindDockerfile, Ref: DockerfileRepo + ":" + hash, Inputs: abs}
	// The same context, the backend's labels added to the Dockerfile: one
	// LABEL line, one build step.
	if archive, err = tarDir(ctx, abs, labelLine(&step, hash)); err != nil {
		return ImageStep{}, fmt.Errorf("pyharness image: WithDockerfile(%q): the build context: %w", dir, err)
	}
	err = buildOnce(ctx, cli, &step, hash, base, archive)
	return step, err
}

var fromLine = regexp.MustCompile(`(?i)^\s*FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?`)

// fromImages returns the images a Dockerfile's FROM lines name, with
// ${BASE} and $BASE expanded, leaving out scratch and earlier stages.
func fromImages(dockerfile, base string) []string {
	stages := map[string]bool{}
	var refs []string
	sc := bufio.NewScanner(strings.NewReader(dockerfile))
	for sc.Scan() {
		m := fromLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		raw := m[1]
		ref := strings.NewReplacer("${BASE}", base, "$BASE", base).Replace(raw)
		if !stages[strings.ToLower(raw)] && ref != "scratch" && !slices.Contains(refs, ref) {
			refs = append(refs, ref)
		}
		if m[2] != "" {
			stages[strings.ToLower(m[2])] = true
		}
	}
	return refs
}

// tarDir writes the tree under dir as a build context: sorted, with modes
// but no times or owners, so that its bytes are its content; label is
// appended to the Dockerfile.
func tarDir(ctx context.Context, dir, label string) ([]byte, error) {
	var paths []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if path != dir {
			paths = append(paths, path)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, path := range paths {
		rel, _ := filepath.Rel(dir, path)
		rel = filepath.ToSlash(rel)
		info, err := os.Lstat(path)
		if err != nil {
			return nil, err
		}
		hdr := &tar.Header{Name: rel, Mode: int64(info.Mode().Perm()), ModTime: time.Unix(0, 0)}
		switch {
		case info.IsDir():
			hdr.Typeflag, hdr.Name = tar.TypeDir, rel+"/"
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return nil, err
			}
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
		case info.Mode().IsRegular():
			hdr.Typeflag, hdr.Size = tar.TypeReg, info.Size()
			if rel == "Dockerfile" {
				hdr.Size += int64(len(label))
			}
		default:
			return nil, fmt.Errorf("%s: not a regular file, directory or link", path)
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if hdr.Typeflag == tar.TypeReg {
			body, err := os.ReadFile(path)
			if err != nil {
				return nil, err
			}
			if rel == "Dockerfile" {
				body = append(body, label...)
			}
			if int64(len(body)) != hdr.Size {
				return nil, errors.New(path + ": changed while being read")
			}
			if _, err := tw.Write(body); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// tarFiles is a build context of named files.
func tarFiles(files map[string][]byte) []byte {
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range names {
		_ = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(files[name])), ModTime: time.Unix(0, 0)})
		_, _ = tw.Write(files[name])
	}
	_ = tw.Close() // writing to memory does not fail
	return buf.Bytes()
}

// newArchive is a build context testcontainers can re-read on a retry.
func newArchive(b []byte) *bytes.Reader { return bytes.NewReader(b) }
