// Images with the user's packages: the user's own image (WithImage), or one
// built from a Dockerfile (WithDockerfile) or a package list (WithPackages,
// WithPipRequirements), each tagged by a hash of what it is made from and
// built only when that tag is missing.

package container

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/pyharness/pyharness/internal/proc"
)

// Labels on every image the backend builds.
const (
	LabelImageKind   = "org.pyharness.image-kind"   // dockerfile, packages, worker
	LabelImageHash   = "org.pyharness.image-hash"   // the content hash in its tag
	LabelImageInputs = "org.pyharness.image-inputs" // what it is made from, for people
)

// Repositories of the images the backend builds.
const (
	PackagesRepo   = "pyharness-packages"
	DockerfileRepo = "pyharness-dockerfile"
)

// Kinds of ImageStep.
const (
	KindBase       = "base"       // the image everything is built on: WithImage, WithBaseImage, $PYHARNESS_BASE_IMAGE
	KindDockerfile = "dockerfile" // WithDockerfile
	KindPackages   = "packages"   // WithPackages, WithPipRequirements
	KindWorker     = "worker"     // the worker copied in: the image the container runs
)

// WithImage runs the zygote on the user's own image ref, which must be
// present on the engine (nothing is pulled) and have python3 on its PATH (or
// the interpreter realpy.WithPython names). The worker is copied in on top,
// in a layer tagged by content, as on the default base. It replaces the
// base image (WithBaseImage, $PYHARNESS_BASE_IMAGE); WithDockerfile and
// WithPackages build on it.
func WithImage(ref string) Option {
	return func(o *options) { o.base, o.imageSet = ref, true }
}

// WithPackages installs Debian packages (apt-get install
// --no-install-recommends, from the image's own apt sources) on the base
// image, or on the image WithImage or WithDockerfile gives: for instance
// container.WithPackages("python3-sklearn") on the base image `pyharness
// base-image` builds. The image is tagged with a hash of the base's id and
// the sorted list, and built once: the next Run with the same list and base
// finds it. A name apt does not know is a *PackageError naming it; the base
// needs apt-get and a reachable mirror.
func WithPackages(packages ...string) Option {
	return func(o *options) { o.packages = append(o.packages, packages...) }
}

// WithPipRequirements installs a pip requirements file (python3 -m pip
// install -r) in the same image as WithPackages, after the packages. It
// needs pip in the image (python3-pip on Debian: add it to WithPackages) and
// a package index the build can reach; the file's content is part of the
// image's hash.
func WithPipRequirements(file string) Option {
	return func(o *options) { o.requirements = file }
}

// WithDockerfile builds the image from the Dockerfile in dir, with dir as
// the build context (all of it: .dockerignore is not read), and the build
// argument BASE set to the base image in effect, so `ARG BASE` and `FROM
// ${BASE}` build on it. Its FROM images must be present on the engine where
// no registry is reachable. The image is tagged with a hash of the context
// and the ids of its FROM images; WithPackages builds on it.
func WithDockerfile(dir string) Option {
	return func(o *options) { o.dockerfile = dir }
}

// Image is what a container runs: its steps, from the base up, the last one
// the worker layer Run starts.
type Image struct {
	Ref   string
	Steps []ImageStep
}

// ImageStep is one image of the chain.
type ImageStep struct {
	Kind   string // KindBase, KindDockerfile, KindPackages or KindWorker
	Ref    string
	Inputs string // what it is made from: a package list, a Dockerfile's directory
	Built  bool   // built by this call (false: found by its content tag, or the base)
	Took   time.Duration
}

// Built reports whether any step was built by this call.
func (i *Image) Built() bool {
	return slices.ContainsFunc(i.Steps, func(s ImageStep) bool { return s.Built })
}

// String is one line for people: each step and whether it was built.
func (i *Image) String() string {
	var parts []string
	for _, s := range i.Steps {
		what := s.Ref
		if s.Inputs != "" && s.Kind != KindWorker {
			what += " (" + s.Inputs + ")"
		}
		switch {
		case s.Kind == KindBase:
		case s.Built:
			what += fmt.Sprintf(" built in %v", s.Took.Round(time.Millisecond))
		default:
			what += " reused"
		}
		parts = append(parts, what)
	}
	return strings.Join(parts, " -> ")
}

// BuildImage builds (or finds by content) the image Run would start with
// the same options, without starting a container: for a CI step that
// prepares it, or to see what would be built. Only the image options
// (WithImage, WithBaseImage, WithDockerfile, WithPackages,
// WithPipRequirements, WithLogger) matter.
func BuildImage(ctx context.Context, opts ...Option) (*Image, error) {
	o := options{base: BaseImage()}
	for _, opt := range opts {
		opt(&o)
	}
	applyLogger(o.logger, nil)
	return buildImage(ctx, &o)
}

// buildImage makes the chain: base, Dockerfile, packages, worker.
func buildImage(ctx context.Context, o *options) (*Image, error) {
	// What can be wrong without an engine is said first.
	pkgs, err := checkPackages(o.packages, o.base)
	if err != nil {
		return nil, err
	}
	var reqs []byte
	if o.requirements != "" {
		if reqs, err = os.ReadFile(o.requirements); err != nil {
			return nil, fmt.Errorf("pyharness image: WithPipRequirements: %w", err)
		}
	}
	if o.dockerfile != "" {
		if _, err := os.Stat(filepath.Join(o.dockerfile, "Dockerfile")); err != nil {
			return nil, fmt.Errorf("pyharness image: WithDockerfile(%q): %w", o.dockerfile, err)
		}
	}
	cli, err := Client(ctx)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	img := &Image{}
	if o.imageSet || o.dockerfile == "" {
		if _, err := cli.ImageInspect(ctx, o.base); err != nil {
			return nil, missingBase(o.base, o.imageSet, err)
		}
		img.Steps = append(img.Steps, ImageStep{Kind: KindBase, Ref: o.base})
	} // else the Dockerfile's FROM lines say what it builds on (BASE, when it uses it)
	from := o.base
	if o.dockerfile != "" {
		step, err := dockerfileStep(ctx, cli, o.dockerfile, from)
		if err != nil {
			return nil, err
		}
		img.Steps = append(img.Steps, step)
		from = step.Ref
	}
	if len(o.packages) > 0 || o.requirements != "" {
		step, err := packagesStep(ctx, cli, from, pkgs, o.requirements, reqs)
		if err != nil {
			return nil, err
		}
		img.Steps = append(img.Steps, step)
		img.Ref = step.Ref // the worker is in it
		return img, nil
	}
	step, err := ensureWorker(ctx, from)
	if err != nil {
		return nil, err
	}
	img.Steps = append(img.Steps, step)
	img.Ref = step.Ref
	return img, nil
}

// missingBase says how to get a base image the engine lacks.
func missingBase(base string, user bool, err error) error {
	if user {
		return fmt.Errorf("pyharness image: WithImage(%q): the engine has no such image (%v): build or load it first (nothing is pulled)", base, err)
	}
	return fmt.Errorf("pyharness image: base image %s is not present (%v): pull it, or build one from this machine's Debian packages: export %s=$(go run github.com/pyharness/pyharness/cmd/pyharness base-image)", base, err, EnvBaseImage)
}

// imageID returns the engine's id of ref.
func imageID(ctx context.Context, cli *testcontainers.DockerClient, ref string) (string, error) {
	info, err := cli.ImageInspect(ctx, ref)
	if err != nil {
		return "", err
	}
	return info.ID, nil
}

// contentHash is the tag of an image made from parts.
func contentHash(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s\n", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// debianPackage is what WithPackages takes: a Debian package name, with an
// optional =version or /release.
var debianPackage = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+(=[A-Za-z0-9.+~:-]+|/[A-Za-z0-9.+-]+)?$`)

// checkPackages returns the list sorted, without repeats, or a
// *PackageError for what is not a package name (nothing reaches a shell
// that is not one).
func checkPackages(packages []string, base string) ([]string, error) {
	pkgs := slices.Compact(slices.Sorted(slices.Values(packages)))
	var bad []string
	for _, p := range pkgs {
		if !debianPackage.MatchString(p) {
			bad = append(bad, p)
		}
	}
	if len(bad) > 0 {
		return nil, &PackageError{Packages: bad, Base: base, Reason: "not a Debian package name (lower-case letters, digits, + - ., optionally =version or /release)"}
	}
	return pkgs, nil
}

// packagesStep installs pkgs (and the pip requirements reqs, read from
// requirements) on from.
func packagesStep(ctx context.Context, cli *testcontainers.DockerClient, from string, pkgs []string, requirements string, reqs []byte) (ImageStep, error) {
	baseID, err := imageID(ctx, cli, from)
	if err != nil {
		return ImageStep{}, missingBase(from, false, err)
	}
	inputs := strings.Join(pkgs, " ")
	if requirements != "" {
		inputs = strings.TrimSpace(inputs + " pip -r " + filepath.Base(requirements))
	}
	var extra map[string][]byte
	if reqs != nil {
		extra = map[string][]byte{"requirements.txt": reqs}
	}
	// The worker goes in first: its steps commit small layers on the base;
	// the packages' RUN, last, is the one large layer.
	step := ImageStep{Kind: KindPackages, Inputs: inputs}
	archive, hash, err := workerContext(&step, PackagesRepo, packagesDockerfile(pkgs, reqs != nil), extra, "packages/v2", "base-id="+baseID)
	if err != nil {
		return ImageStep{}, err
	}
	err = buildOnce(ctx, cli, &step, hash, from, archive)
	var be *BuildError
	if errors.As(err, &be) {
		if missing := be.missingPackages(); len(missing) > 0 {
			return step, &PackageError{Packages: missing, Base: from, Reason: "apt-get cannot find it in the image's apt sources", Build: be}
		}
	}
	return step, err
}

// packagesDockerfile is what a package image adds to the worker's Dockerfile.
func packagesDockerfile(pkgs []string, pip bool) string {
	var b strings.Builder
	if len(pkgs) > 0 {
		b.WriteString("RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends " +
			strings.Join(pkgs, " ") + " && rm -rf /var/lib/apt/lists/*\n")
	}
	if pip {
		// PIP_BREAK_SYSTEM_PACKAGES: Debian's pip refuses to install into
		// the system's Python otherwise (PEP 668); older pips ignore it.
		b.WriteString("COPY requirements.txt /tmp/pyharness-requirements.txt\n" +
			"RUN PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --no-cache-dir -r /tmp/pyharness-requirements.txt\n")
	}
	return b.String()
}

// buildOnce builds step.Ref from the context archive unless the engine has
// it, holding a lock per tag on this machine so that concurrent processes
// (parallel Ginkgo processes, test binaries of other packages) build it
// once: the others wait and then find it.
func buildOnce(ctx context.Context, cli *testcontainers.DockerClient, step *ImageStep, hash, base string, archive []byte) error {
	if _, err := cli.ImageInspect(ctx, step.Ref); err == nil {
		logf("pyharness image: %s present (%s), not rebuilt", step.Ref, step.Inputs)
		return nil
	}
	unlock, err := lockImage(ctx, step.Ref)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := cli.ImageInspect(ctx, step.Ref); err == nil {
		logf("pyharness image: %s built by another process meanwhile (%s)", step.Ref, step.Inputs)
		return nil
	}
	logf("pyharness image: building %s (%s %s) on %s", step.Ref, step.Kind, step.Inputs, base)
	start := time.Now()
	if err := build(ctx, step, hash, base, archive); err != nil {
		return err
	}
	step.Built, step.Took = true, time.Since(start)
	logf("pyharness image: built %s in %v", step.Ref, step.Took.Round(time.Millisecond))
	return nil
}

// build runs one docker build through testcontainers-go (FromDockerfile),
// labelled as the backend's, keeping the log's tail for errors.
func build(ctx context.Context, step *ImageStep, hash, base string, archive []byte) error {
	provider, err := testcontainers.NewDockerProvider()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrDockerUnavailable, err)
	}
	defer provider.Close()
	repo, tag, _ := strings.Cut(step.Ref, ":")
	baseArg := base
	log := newTail(buildLogLines)
	req := testcontainers.ContainerRequest{FromDockerfile: testcontainers.FromDockerfile{
		ContextArchive: newArchive(archive),
		Repo:           repo,
		Tag:            tag,
		BuildArgs:      map[string]*string{"BASE": &baseArg},
		BuildLogWriter: log,
		KeepImage:      true,
	}}
	if _, err := provider.BuildImage(ctx, &req); err != nil {
		removeDangling(ctx, provider.Client(), hash)
		return &BuildError{Image: step.Ref, Kind: step.Kind, Inputs: step.Inputs, Err: err, Log: log.Lines(), lines: log.all}
	}
	return nil
}

// removeDangling removes what a failed (or cancelled) build left: the
// untagged images of its steps that carry its hash label (the legacy
// builder keeps each step's image).
func removeDangling(ctx context.Context, cli client.APIClient, hash string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	list, err := cli.ImageList(ctx, client.ImageListOptions{All: true,
		Filters: make(client.Filters).Add("dangling", "true").Add("label", LabelImageHash+"="+hash)})
	if err != nil {
		return
	}
	for _, img := range list.Items {
		_, _ = cli.ImageRemove(ctx, img.ID, client.ImageRemoveOptions{PruneChildren: true})
	}
}

// lockImage takes this machine's lock for building ref; the engine is
// this machine's (or every process here shares one remote engine).
func lockImage(ctx context.Context, ref string) (func(), error) {
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("pyharness-images-%d", os.Getuid()))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pyharness image: lock: %w", err)
	}
	path := filepath.Join(dir, strings.NewReplacer("/", "_", ":", "_").Replace(ref)+".lock")
	unlock, err := proc.LockFile(ctx, path)
	switch {
	case err == nil:
		return unlock, nil
	case ctx.Err() != nil:
		return nil, fmt.Errorf("pyharness image: waiting for another process's build of %s: %w", ref, ctx.Err())
	default:
		return nil, fmt.Errorf("pyharness image: lock %s: %w", path, err)
	}
}

// Remove removes the images of the chain that the backend built (labelled
// org.pyharness.managed), the worker layer first; the base and images the
// user gave are left alone. Images still used by a container stay, with an
// error.
func (i *Image) Remove(ctx context.Context) error {
	cli, err := Client(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	for _, s := range slices.Backward(i.Steps) {
		if s.Kind == KindBase {
			continue
		}
		info, err := cli.ImageInspect(ctx, s.Ref)
		if err != nil {
			continue // gone already
		}
		if info.Config == nil || info.Config.Labels[LabelManaged] != "true" {
			continue
		}
		if _, err := cli.ImageRemove(ctx, s.Ref, client.ImageRemoveOptions{PruneChildren: true}); err != nil {
			return fmt.Errorf("pyharness image: remove %s: %w", s.Ref, err)
		}
	}
	return nil
}
