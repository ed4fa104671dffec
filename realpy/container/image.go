// The worker image: building and finding it.

package container

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	"github.com/testcontainers/testcontainers-go"

	"github.com/pyharness/pyharness/internal/realpyx"
	"github.com/pyharness/pyharness/python"
)

// EnsureImage returns the worker image for base, building it if missing.
func EnsureImage(ctx context.Context, base string) (string, error) {
	ctxTar, hash, err := buildContext(base)
	if err != nil {
		return "", err
	}
	image := imageRepo + ":" + hash
	cli, err := Client(ctx)
	if err != nil {
		return "", err
	}
	defer cli.Close()
	if _, err := cli.ImageInspect(ctx, image); err == nil {
		return image, nil
	}
	if _, err := cli.ImageInspect(ctx, base); err != nil {
		return "", fmt.Errorf("pyharness image: base image %s is not present (%v): pull it, or build one from this machine's Debian packages: export %s=$(go run github.com/pyharness/pyharness/cmd/pyharness base-image)", base, err, EnvBaseImage)
	}
	provider, err := testcontainers.NewDockerProvider()
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrDockerUnavailable, err)
	}
	defer provider.Close()
	baseArg := base
	req := testcontainers.ContainerRequest{FromDockerfile: testcontainers.FromDockerfile{
		ContextArchive: bytes.NewReader(ctxTar),
		Repo:           imageRepo,
		Tag:            hash,
		BuildArgs:      map[string]*string{"BASE": &baseArg},
		KeepImage:      true,
	}}
	if _, err := provider.BuildImage(ctx, &req); err != nil {
		return "", fmt.Errorf("pyharness image: build on %s: %w", base, err)
	}
	return image, nil
}

// buildContext returns the docker build context (Dockerfile and worker
// sources) as a tar, and the content hash that tags the image.
func buildContext(base string) ([]byte, string, error) {
	files, err := python.WorkerFiles()
	if err != nil {
		return nil, "", err
	}
	files["Dockerfile"] = python.Dockerfile
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range python.Names(files) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(files[name])), ModTime: time.Unix(0, 0)}); err != nil {
			return nil, "", err
		}
		if _, err := tw.Write(files[name]); err != nil {
			return nil, "", err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), python.Hash(files, "base="+base)[:16], nil
}

// configHash names a container by everything that makes it what it is (the
// run id aside: a reused container serves later runs).
func configHash(image string, transport Transport, cmd *realpyx.ZygoteCommand) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s|%s|%s|%q|%q|%q", image, transport, cmd.Python, cmd.Args, cmd.PythonPath, cmd.Env)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// ImageFor returns the name of the worker image for base, without building it.
func ImageFor(base string) (string, error) {
	_, hash, err := buildContext(base)
	return imageRepo + ":" + hash, err
}

// ImagePresent reports whether the Docker engine has image.
func ImagePresent(ctx context.Context, image string) (bool, error) {
	cli, err := Client(ctx)
	if err != nil {
		return false, err
	}
	defer cli.Close()
	_, err = cli.ImageInspect(ctx, image)
	return err == nil, nil
}

// BaseImage returns the base image in effect: $PYHARNESS_BASE_IMAGE, else DefaultBase.
func BaseImage() string {
	if base := os.Getenv(EnvBaseImage); base != "" {
		return base
	}
	return DefaultBase
}
