package container

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	tclog "github.com/testcontainers/testcontainers-go/log"
)

// The image recipes, hashes and errors, without a Docker engine (the
// builds themselves are in suites/internal/container/images.go).
func TestImages(t *testing.T) {
	defer tclog.SetDefault(tcDefault) // BuildImage quiets testcontainers, for the process
	RegisterFailHandler(Fail)
	RunSpecs(t, "Container images (no engine)")
}

var _ = Describe("Package lists", func() {
	It("are sorted and deduplicated, so that order and repeats give the same image", func() {
		a, err := checkPackages([]string{"python3-sklearn", "python3-pandas", "python3-sklearn"}, "base")
		Expect(err).NotTo(HaveOccurred())
		b, err := checkPackages([]string{"python3-pandas", "python3-sklearn"}, "base")
		Expect(err).NotTo(HaveOccurred())
		Expect(a).To(Equal(b))
		Expect(packagesDockerfile(a, false)).To(Equal(packagesDockerfile(b, false)))
	})

	It("refuse what is not a Debian package name, naming each, before any engine is asked", func() {
		_, err := BuildImage(context.Background(), WithBaseImage("pyharness-nowhere:none"),
			WithPackages("python3-numpy", "numpy; rm -rf /", "Python3-Sklearn", "libfoo=1.2-3", "python3-scipy/bookworm-backports"))
		var pe *PackageError
		Expect(errors.As(err, &pe)).To(BeTrue(), "%v", err)
		Expect(pe.Packages).To(Equal([]string{"Python3-Sklearn", "numpy; rm -rf /"}))
		Expect(pe.Build).To(BeNil())
		Expect(err).To(MatchError(ContainSubstring("packages Python3-Sklearn, numpy; rm -rf / on pyharness-nowhere:none: not a Debian package name")))
	})

	It("install without recommends, then clean apt's lists; pip requirements after, when given", func() {
		Expect(packagesDockerfile([]string{"python3-sklearn"}, false)).To(Equal(
			"RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-sklearn && rm -rf /var/lib/apt/lists/*\n"))
		pip := packagesDockerfile([]string{"python3-pip"}, true)
		Expect(pip).To(ContainSubstring("COPY requirements.txt /tmp/pyharness-requirements.txt\n"))
		Expect(pip).To(ContainSubstring("RUN PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --no-cache-dir -r /tmp/pyharness-requirements.txt\n"))
		Expect(strings.Index(pip, "apt-get")).To(BeNumerically("<", strings.Index(pip, "pip install")))
		Expect(packagesDockerfile(nil, true)).NotTo(ContainSubstring("apt-get"))
	})

	It("say which file is missing when the requirements cannot be read", func() {
		_, err := BuildImage(context.Background(), WithPipRequirements(filepath.Join(GinkgoT().TempDir(), "requirements.txt")))
		Expect(err).To(MatchError(And(ContainSubstring("WithPipRequirements"), ContainSubstring("no such file"))))
	})
})

var _ = Describe("A package image's build context", func() {
	It("has the worker and its Dockerfile, the labels before the packages' layer, and a tag that follows every input", func() {
		step := ImageStep{Kind: KindPackages, Inputs: "python3-sklearn"}
		archive, hash, err := workerContext(&step, PackagesRepo, packagesDockerfile([]string{"python3-sklearn"}, false), nil, "packages/v2", "base-id=sha256:1")
		Expect(err).NotTo(HaveOccurred())
		Expect(step.Ref).To(Equal(PackagesRepo + ":" + hash))
		Expect(hash).To(HaveLen(16))
		files := untar(archive)
		Expect(files).To(HaveKey("pyharness_worker/__init__.py"))
		dockerfile := files["Dockerfile"]
		Expect(dockerfile).To(ContainSubstring("COPY pyharness_worker"))
		label := strings.Index(dockerfile, "LABEL org.pyharness.managed=\"true\"")
		Expect(label).To(BeNumerically(">", strings.Index(dockerfile, "COPY pyharness_worker")))
		Expect(label).To(BeNumerically("<", strings.Index(dockerfile, "RUN apt-get")), "the label on the small image, not the large one")
		Expect(dockerfile).To(ContainSubstring(fmt.Sprintf(`org.pyharness.image-hash=%q`, hash)))
		Expect(dockerfile).To(ContainSubstring(`org.pyharness.image-inputs="python3-sklearn"`))

		other := ImageStep{Kind: KindPackages}
		_, otherBase, _ := workerContext(&other, PackagesRepo, packagesDockerfile([]string{"python3-sklearn"}, false), nil, "packages/v2", "base-id=sha256:2")
		_, otherList, _ := workerContext(&other, PackagesRepo, packagesDockerfile([]string{"python3-pandas"}, false), nil, "packages/v2", "base-id=sha256:1")
		_, again, _ := workerContext(&other, PackagesRepo, packagesDockerfile([]string{"python3-sklearn"}, false), nil, "packages/v2", "base-id=sha256:1")
		Expect([]string{otherBase, otherList}).NotTo(ContainElement(hash), "another base or list is another image")
		Expect(again).To(Equal(hash), "the same inputs are the same image")
	})
})

var _ = Describe("A Dockerfile's build context", func() {
	It("is hashed by content (not times), and gets the labels appended to its Dockerfile", func() {
		dir := GinkgoT().TempDir()
		Expect(os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("ARG BASE\nFROM ${BASE}\nCOPY a /a"), 0o644)).To(Succeed())
		Expect(os.MkdirAll(filepath.Join(dir, "sub"), 0o755)).To(Succeed())
		Expect(os.WriteFile(filepath.Join(dir, "sub", "a"), []byte("one"), 0o644)).To(Succeed())
		first, err := tarDir(context.Background(), dir, "")
		Expect(err).NotTo(HaveOccurred())
		Expect(os.Chtimes(filepath.Join(dir, "sub", "a"), timeZero, timeZero)).To(Succeed())
		second, err := tarDir(context.Background(), dir, "")
		Expect(err).NotTo(HaveOccurred())
		Expect(second).To(Equal(first), "a touched file is the same content")
		Expect(os.WriteFile(filepath.Join(dir, "sub", "a"), []byte("two"), 0o644)).To(Succeed())
		third, _ := tarDir(context.Background(), dir, "")
		Expect(third).NotTo(Equal(first))

		labelled, err := tarDir(context.Background(), dir, "\nLABEL x=\"y\"\n")
		Expect(err).NotTo(HaveOccurred())
		files := untar(labelled)
		Expect(files["Dockerfile"]).To(Equal("ARG BASE\nFROM ${BASE}\nCOPY a /a\nLABEL x=\"y\"\n"))
		Expect(files["sub/a"]).To(Equal("two"))
	})

	It("names the images its FROM lines build on, BASE expanded, without scratch or earlier stages", func() {
		df := "ARG BASE\nFROM ${BASE} AS build\nRUN make\nFROM --platform=linux/amd64 debian:bookworm-slim\n" +
			"COPY --from=build /out /out\nfrom build\nFROM scratch\nFROM $BASE\n"
		Expect(fromImages(df, "pyharness-python-base:debian-bookworm")).To(Equal([]string{"pyharness-python-base:debian-bookworm", "debian:bookworm-slim"}))
	})

	It("must exist: a directory without a Dockerfile is said before any engine is asked", func() {
		_, err := BuildImage(context.Background(), WithDockerfile(GinkgoT().TempDir()))
		Expect(err).To(MatchError(And(ContainSubstring("WithDockerfile"), ContainSubstring("Dockerfile: no such file"))))
	})
})

var _ = Describe("Build errors", func() {
	It("keep the log's last lines without terminal escapes, and name the packages apt could not find", func() {
		t := newTail(3)
		fmt.Fprint(t, "Step 1/2 : FROM base\r\n\x1b[91mE: Unable to locate package python3-nope\x1b[0m\n")
		fmt.Fprint(t, "E: Package 'python3-old' has no installation candidate\nE: Unable to locate package python3-nope\nthe last line, unterminated")
		be := &BuildError{Image: "pyharness-packages:0", Kind: KindPackages, Inputs: "python3-nope python3-old", Err: errors.New("returned a non-zero code: 100"), Log: t.Lines(), lines: t.all}
		Expect(be.Log).To(Equal([]string{"E: Package 'python3-old' has no installation candidate", "E: Unable to locate package python3-nope", "the last line, unterminated"}))
		Expect(be.missingPackages()).To(Equal([]string{"python3-nope", "python3-old"}))
		Expect(be.Error()).To(ContainSubstring("returned a non-zero code: 100; the build log ends:\n\tE: Package 'python3-old'"))
		pe := &PackageError{Packages: be.missingPackages(), Base: "b", Reason: "apt-get cannot find it", Build: be}
		Expect(errors.As(pe, new(*BuildError))).To(BeTrue())
		Expect(pe.Error()).To(HavePrefix("pyharness image: WithPackages: packages python3-nope, python3-old on b: apt-get cannot find it"))
	})

	It("type an interpreter the image lacks", func() {
		err := startError(errors.New(`start container: Error response from daemon: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "python3": executable file not found in $PATH: unknown`), "img:1", "python3")
		var np *NoPythonError
		Expect(errors.As(err, &np)).To(BeTrue())
		Expect(np.Image).To(Equal("img:1"))
		Expect(err).To(MatchError(ContainSubstring("image img:1 has no python3")))
		Expect(errors.As(startError(errors.New("port is already allocated"), "img:1", "python3"), &np)).To(BeFalse())
	})
})

var _ = Describe("An image's line for people", func() {
	It("says each step and whether it was built or reused", func() {
		img := &Image{Steps: []ImageStep{{Kind: KindBase, Ref: "base:1"}, {Kind: KindPackages, Ref: "pyharness-packages:ab", Inputs: "python3-sklearn", Built: true, Took: 1500e6}}}
		Expect(img.String()).To(Equal("base:1 -> pyharness-packages:ab (python3-sklearn) built in 1.5s"))
		Expect(img.Built()).To(BeTrue())
		img.Steps[1].Built = false
		Expect(img.String()).To(Equal("base:1 -> pyharness-packages:ab (python3-sklearn) reused"))
		Expect(img.Built()).To(BeFalse())
	})
})

var timeZero = time.Unix(0, 0)

// untar returns the regular files of a tar archive by name.
func untar(archive []byte) map[string]string {
	GinkgoHelper()
	files := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return files
		}
		Expect(err).NotTo(HaveOccurred())
		if hdr.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			Expect(err).NotTo(HaveOccurred())
			files[hdr.Name] = string(b)
		}
	}
}
