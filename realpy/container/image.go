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

	"github.com/pyharness/pyharness/internal/realpyx"
	"github.com/pyharness/pyharness/python"
)

// EnsureImage returns the worker image for base, building it if missing.
func EnsureImage(ctx context.Context, base string) (string, error) {
	step, err := ensureWorker(ctx, base)
	return step.Ref, err
}

// ensureWorker finds or builds the worker layer on base: tagged with a hash
// of the worker sources, the Dockerfile and the base's id (a base rebuilt
// under the same name gets a new worker layer).
func ensureWorker(ctx context.Context, base string) (ImageStep, error) {
	cli, err := Client(ctx)
	if err != nil {
		return ImageStep{}, err
	}
	defer cli.Close()
	baseID, err := imageID(ctx, cli, base)
	if err != nil {
		return ImageStep{}, missingBase(base, false, err)
	}
	step := ImageStep{Kind: KindWorker, Inputs: "the worker on " + base}
	ctxTar, hash, err := workerContext(&step, imageRepo, "", nil, "base="+base, "base-id="+baseID)
	if err != nil {
		return ImageStep{}, err
	}
	err = buildOnce(ctx, cli, &step, hash, base, ctxTar)
	return step, err
}

// workerContext returns the docker build context of an image with the
// worker in it (python/Dockerfile and the worker sources), then the
// instructions more (with the files extra), as a tar, and sets step.Ref to
// repo and the content hash, which it also returns. The Dockerfile gets one
// LABEL line of the backend's labels: one build step (the legacy builder
// commits a layer per instruction, and on a large image with
// fuse-overlayfs each commit walks the whole tree).
func workerContext(step *ImageStep, repo, more string, extra map[string][]byte, salt ...string) ([]byte, string, error) {
	files, err := python.WorkerFiles()
	if err != nil {
		return nil, "", err
	}
	for name, b := range extra {
		files[name] = b
	}
	files["Dockerfile"] = append(append([]byte(nil), python.Dockerfile...), "\n"+more...)
	hash := python.Hash(files, salt...)[:16]
	step.Ref = repo + ":" + hash
	// The label before more: on the small image, not the large one more makes.
	files["Dockerfile"] = append(append(append([]byte(nil), python.Dockerfile...), labelLine(step, hash)...), more...)
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
	return buf.Bytes(), hash, nil
}

// labelLine is the Dockerfile instruction that labels an image as built by
// the backend.
func labelLine(step *ImageStep, hash string) string {
	return fmt.Sprintf("\nLABEL %s=\"true\" %s=%q %s=%q %s=%q\n", LabelManaged, LabelImageKind, step.Kind,
		LabelImageHash, hash, LabelImageInputs, step.Inputs)
}

// configHash names a container by everything that makes it what it is (the
// run id aside: a reused container serves later runs).
func configHash(image string, transport Transport, cmd *realpyx.ZygoteCommand) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s|%s|%s|%q|%q|%q", image, transport, cmd.Python, cmd.Args, cmd.PythonPath, cmd.Env)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// ImageFor returns the name of the worker image for base, without building
// it; base must be present (its id is part of the name).
func ImageFor(ctx context.Context, base string) (string, error) {
	cli, err := Client(ctx)
	if err != nil {
		return "", err
	}
	defer cli.Close()
	baseID, err := imageID(ctx, cli, base)
	if err != nil {
		return "", missingBase(base, false, err)
	}
	var step ImageStep
	_, _, err = workerContext(&step, imageRepo, "", nil, "base="+base, "base-id="+baseID)
	return step.Ref, err
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
