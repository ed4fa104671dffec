package container

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/internal/randid"
	"github.com/pyharness/pyharness/realpy"
	"github.com/pyharness/pyharness/realpy/container"
	"github.com/pyharness/pyharness/suites/internal/suite"
)

// Images with the user's packages (#24): the user's image, or one built
// from a package list or a Dockerfile, tagged by content and built once.
//
// What is kept: the scikit-learn image (python3-sklearn on the base image)
// is the cache later runs rely on, and is left on the engine. Every other
// image a spec builds is removed when the spec ends (Image.Remove: the
// images labelled org.pyharness.managed, the worker layer first).

func imagesData(parts ...string) string {
	return filepath.Join(append([]string{testdata(), "images"}, parts...)...)
}

// sklearnPackages is the list of the cached image.
var sklearnPackages = container.WithPackages("python3-sklearn")

// lines records the lines the backend logs (through testcontainers' logger).
type lines struct {
	mu sync.Mutex
	l  []string
}

func (r *lines) Printf(format string, v ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.l = append(r.l, strings.TrimSpace(fmt.Sprintf(format, v...)))
	GinkgoWriter.Printf(format+"\n", v...)
}

func (r *lines) matching(s string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, l := range r.l {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

// removeWhenDone removes the images of img the backend built, when the spec ends.
func removeWhenDone(img *container.Image) {
	DeferCleanup(func(ctx SpecContext) {
		Expect(img.Remove(ctx)).To(Succeed())
		for _, s := range img.Steps {
			if s.Kind != container.KindBase {
				Expect(container.ImagePresent(ctx, s.Ref)).To(BeFalse(), "removed: %s", s.Ref)
			}
		}
	})
}

// freshContext copies the Dockerfile directory dir to a new directory with
// a file whose content is new: an image nobody built yet.
func freshContext(dir string) string {
	GinkgoHelper()
	tmp := GinkgoT().TempDir()
	entries, err := os.ReadDir(dir)
	Expect(err).NotTo(HaveOccurred())
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		Expect(err).NotTo(HaveOccurred())
		Expect(os.WriteFile(filepath.Join(tmp, e.Name()), b, 0o644)).To(Succeed())
	}
	Expect(os.WriteFile(filepath.Join(tmp, "greeting.txt"), []byte("fresh "+randid.Hex(8)+"\n"), 0o644)).To(Succeed())
	return tmp
}

// buildWithoutDocker is the child mode no-docker-image (suite.go's Child):
// a build asked for where no engine is reachable.
func buildWithoutDocker() {
	_, err := container.BuildImage(context.Background(), container.WithPackages("python3-sklearn"))
	fmt.Println("error:", err, "| is ErrDockerUnavailable:", errors.Is(err, container.ErrDockerUnavailable))
	os.Exit(3)
}

// buildTimeout bounds the specs that may build the scikit-learn image cold:
// on a loaded machine, fuse-overlayfs, the legacy builder, minutes.
var buildTimeout = SpecTimeout(20 * time.Minute)

var _ = describe("Images with the user's packages (#24)", harness.Integration, harness.PythonContainer, Label("images"), func() {
	It("fits and predicts with scikit-learn in a container built from a package list, and reuses the image by content", func(ctx SpecContext) {
		rec := &lines{}
		c := run(ctx, sklearnPackages, container.WithLogger(rec),
			container.WithOptions(realpy.WithModules("model"), realpy.WithPythonPath(imagesData("sklearn"))))
		Expect(c.Steps).To(HaveLen(2), "the base, the packages with the worker: %v", c.Steps)
		Expect(c.Steps[0]).To(HaveField("Kind", container.KindBase))
		Expect(c.Steps[1]).To(And(HaveField("Kind", container.KindPackages), HaveField("Inputs", "python3-sklearn"),
			HaveField("Ref", HavePrefix(container.PackagesRepo+":"))))
		Expect(c.Image).To(Equal(c.Steps[1].Ref))
		GinkgoWriter.Println("first start:", c.Path())

		p, err := c.StartPool(ctx, realpy.WithSize(2))
		DeferCleanup(p.Close)
		Expect(err).NotTo(HaveOccurred())
		var got struct {
			Predicted []int
			Classes   []int
			Sklearn   string
		}
		Expect(p.Call(ctx, "fit_predict", map[string]any{
			"x": [][]float64{{0}, {1}, {2}, {8}, {9}, {10}}, "y": []int{0, 0, 0, 1, 1, 1},
			"query": [][]float64{{0.5}, {9.5}, {1}, {8.5}},
		}, &got)).To(Succeed())
		Expect(got.Predicted).To(Equal([]int{0, 1, 0, 1}))
		Expect(got.Classes).To(Equal([]int{0, 1}))
		Expect(got.Sklearn).NotTo(BeEmpty())
		Expect(p.Close()).To(Succeed())
		Expect(c.Close(ctx)).To(Succeed())

		// The same list (in another order, repeated) on the same base: the
		// same tags, and nothing built.
		before := len(rec.matching("pyharness image: building"))
		again := run(ctx, container.WithPackages("python3-sklearn", "python3-sklearn"), container.WithLogger(rec),
			container.WithOptions(realpy.WithModules("model"), realpy.WithPythonPath(imagesData("sklearn"))))
		Expect(again.Image).To(Equal(c.Image))
		for _, s := range again.Steps {
			Expect(s.Built).To(BeFalse(), "%s %s was found by its content tag, not rebuilt", s.Kind, s.Ref)
		}
		Expect(rec.matching("pyharness image: building")).To(HaveLen(before), "no build on the second start")
		Expect(rec.matching(c.Steps[1].Ref + " present (python3-sklearn), not rebuilt")).NotTo(BeEmpty())
		Expect(again.Path()).To(ContainSubstring(c.Steps[1].Ref + " (python3-sklearn) reused"))

		cli, err := container.Client(ctx)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(cli.Close)
		info, err := cli.ImageInspect(ctx, c.Steps[1].Ref)
		Expect(err).NotTo(HaveOccurred())
		Expect(info.Config.Labels).To(HaveKeyWithValue(container.LabelManaged, "true"))
		Expect(info.Config.Labels).To(HaveKeyWithValue(container.LabelImageKind, container.KindPackages))
		Expect(info.Config.Labels).To(HaveKeyWithValue(container.LabelImageInputs, "python3-sklearn"))
	}, buildTimeout)

	It("builds a changed list as another image, with what that list holds", func(ctx SpecContext) {
		sklearn, err := container.BuildImage(ctx, sklearnPackages)
		Expect(err).NotTo(HaveOccurred())

		img, err := container.BuildImage(ctx, container.WithPackages("python3-tomli"))
		Expect(err).NotTo(HaveOccurred())
		removeWhenDone(img)
		if !img.Built() { // left by a run that ended before its cleanup: build it now, to see it built
			Expect(img.Remove(ctx)).To(Succeed())
			img, err = container.BuildImage(ctx, container.WithPackages("python3-tomli"))
			Expect(err).NotTo(HaveOccurred())
		}
		Expect(img.Steps[1]).To(And(HaveField("Kind", container.KindPackages), HaveField("Built", true), HaveField("Inputs", "python3-tomli")))
		Expect(img.Steps[1].Ref).NotTo(Equal(sklearn.Steps[1].Ref))
		Expect(img.Ref).NotTo(Equal(sklearn.Ref))

		c := run(ctx, container.WithPackages("python3-tomli"), container.WithOptions(realpy.WithModules("probe"), realpy.WithPythonPath(imagesData("sklearn"))))
		Expect(c.Image).To(Equal(img.Ref))
		p, err := c.StartPool(ctx, realpy.WithSize(1))
		DeferCleanup(p.Close)
		Expect(err).NotTo(HaveOccurred())
		var found []bool
		Expect(p.Call(ctx, "importable", []string{"tomli", "sklearn"}, &found)).To(Succeed())
		Expect(found).To(Equal([]bool{true, false}), "the changed list's packages, not the other image's")
		Expect(p.Close()).To(Succeed())
		Expect(c.Close(ctx)).To(Succeed())
	}, buildTimeout)

	It("names a package apt does not have, and a name that is not a package's, with a typed error", func(ctx SpecContext) {
		_, err := container.BuildImage(ctx, container.WithPackages("python3-sklearn", "python3-no-such-package-pyharness"))
		var pe *container.PackageError
		Expect(errors.As(err, &pe)).To(BeTrue(), "%v", err)
		Expect(pe.Packages).To(Equal([]string{"python3-no-such-package-pyharness"}))
		Expect(pe.Build).NotTo(BeNil())
		Expect(pe.Build.Log).To(ContainElement(ContainSubstring("Unable to locate package python3-no-such-package-pyharness")))
		Expect(container.ImagePresent(ctx, pe.Build.Image)).To(BeFalse(), "no image tagged for a failed build")
		Expect(err).To(MatchError(ContainSubstring("package python3-no-such-package-pyharness")))

		_, err = container.Run(ctx, container.WithPackages("numpy; rm -rf /"))
		Expect(errors.As(err, &pe)).To(BeTrue(), "%v", err)
		Expect(pe.Packages).To(Equal([]string{"numpy; rm -rf /"}))
		Expect(pe.Build).To(BeNil(), "refused before any build")
	}, timeout)

	It("builds a Dockerfile on the base image, tags it by its context, and ends a failed build's error with its log", func(ctx SpecContext) {
		dir := freshContext(imagesData("dockerfile"))
		img, err := container.BuildImage(ctx, container.WithDockerfile(dir))
		Expect(err).NotTo(HaveOccurred())
		removeWhenDone(img)
		Expect(img.Steps).To(HaveLen(2), "the Dockerfile's image, the worker on it")
		Expect(img.Steps[0]).To(And(HaveField("Kind", container.KindDockerfile), HaveField("Built", true), HaveField("Inputs", dir)))

		c := run(ctx, container.WithDockerfile(dir), container.WithOptions(realpy.WithModules("probe"), realpy.WithPythonPath(imagesData("sklearn"))))
		Expect(c.Image).To(Equal(img.Ref))
		Expect(c.Steps[0].Built).To(BeFalse(), "the same context: found, not rebuilt")
		p, err := c.StartPool(ctx, realpy.WithSize(1))
		DeferCleanup(p.Close)
		Expect(err).NotTo(HaveOccurred())
		var greeting, want string
		Expect(p.Call(ctx, "read", "/opt/greeting.txt", &greeting)).To(Succeed())
		b, _ := os.ReadFile(filepath.Join(dir, "greeting.txt"))
		want = string(b)
		Expect(greeting).To(Equal(want))
		Expect(p.Close()).To(Succeed())
		Expect(c.Close(ctx)).To(Succeed())

		Expect(os.WriteFile(filepath.Join(dir, "greeting.txt"), []byte("changed\n"), 0o644)).To(Succeed())
		changed, err := container.BuildImage(ctx, container.WithDockerfile(dir))
		Expect(err).NotTo(HaveOccurred())
		removeWhenDone(changed)
		Expect(changed.Steps[0].Ref).NotTo(Equal(img.Steps[0].Ref), "a changed context is another image")

		_, err = container.BuildImage(ctx, container.WithDockerfile(imagesData("failing")))
		var be *container.BuildError
		Expect(errors.As(err, &be)).To(BeTrue(), "%v", err)
		Expect(be.Kind).To(Equal(container.KindDockerfile))
		Expect(be.Log).To(ContainElement("pyharness: this build fails on purpose"))
		Expect(err).To(MatchError(And(ContainSubstring("returned a non-zero code: 3"), ContainSubstring("the build log ends:"),
			ContainSubstring("pyharness: this build fails on purpose"))))
		Expect(container.ImagePresent(ctx, be.Image)).To(BeFalse())
	}, timeout)

	It("says the image has no python3 when it has none", func(ctx SpecContext) {
		img, err := container.BuildImage(ctx, container.WithDockerfile(imagesData("nopython")))
		Expect(err).NotTo(HaveOccurred())
		removeWhenDone(img)
		Expect(img.Steps[0].Kind).To(Equal(container.KindDockerfile), "FROM scratch: no base image in the chain")

		for _, opt := range []container.Option{container.WithDockerfile(imagesData("nopython")), container.WithImage(img.Steps[0].Ref)} {
			c, err := container.Run(ctx, opt)
			Expect(c.Close(ctx)).To(Succeed())
			var np *container.NoPythonError
			Expect(errors.As(err, &np)).To(BeTrue(), "%v", err)
			Expect(np.Python).To(Equal("python3"))
			Expect(np.Image).To(Equal(img.Ref))
		}

		_, err = container.Run(ctx, container.WithImage("pyharness-no-such-image:nowhere"))
		Expect(err).To(MatchError(ContainSubstring(`WithImage("pyharness-no-such-image:nowhere"): the engine has no such image`)))
	}, timeout)

	It("builds an image once when two builds of it start together", func(ctx SpecContext) {
		dir := freshContext(imagesData("dockerfile"))
		imgs := make([]*container.Image, 2)
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i := range imgs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer GinkgoRecover()
				imgs[i], errs[i] = container.BuildImage(ctx, container.WithDockerfile(dir))
			}()
		}
		wg.Wait()
		Expect(errs).To(HaveEach(BeNil()))
		removeWhenDone(imgs[0])
		Expect(imgs[0].Ref).To(Equal(imgs[1].Ref))
		built := 0
		for _, img := range imgs {
			if img.Steps[0].Built {
				built++
			}
		}
		Expect(built).To(Equal(1), "one build; the other waited for it and found the image")
	}, timeout)

	// hostView: it runs `go test` on a module of this machine, which a
	// runner container holding only test binaries (ci/in-container) has not.
	It("runs a user's scikit-learn suite on the shared pool with PYHARNESS_BACKEND=container, building its image at most once", hostView, func(ctx SpecContext) {
		goTool, err := exec.LookPath("go")
		Expect(err).NotTo(HaveOccurred(), "the go command, to test the user's module")
		var outputs []string
		for range 2 {
			cmd := exec.CommandContext(ctx, goTool, "test", "-count=1", "-v", ".")
			cmd.Dir = imagesData("..", "_sklearnsuite")
			cmd.Env = append(os.Environ(), harness.EnvBackend+"="+string(harness.ContainerBackend), "PYHARNESS_INTEGRATION=1")
			out, err := cmd.CombinedOutput()
			GinkgoWriter.Printf("%s\n", out)
			Expect(err).NotTo(HaveOccurred(), "the user's suite passes on the container backend")
			outputs = append(outputs, string(out))
		}
		Expect(outputs[0]).To(MatchRegexp(`pyharness: container reached by .*; image \S+ -> pyharness-packages:\w+ \(python3-sklearn\) (built in|reused)`))
		Expect(outputs[1]).To(MatchRegexp(`pyharness: container reached by .*; image \S+ -> pyharness-packages:\w+ \(python3-sklearn\) reused`),
			"the second run finds the image by its content tag: no build")
		Expect(outputs[1]).To(ContainSubstring("--- PASS: TestSklearn"))
	}, buildTimeout)

	It("is checked by pyharness doctor --package, which prints the line a suite says it with", hostView, func(ctx SpecContext) {
		doctor := func(args ...string) *gexec.Session {
			cmd := exec.CommandContext(ctx, "go", append([]string{"run", "github.com/pyharness/pyharness/cmd/pyharness", "doctor"}, args...)...)
			session, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
			Expect(err).NotTo(HaveOccurred())
			Eventually(session).WithTimeout(15 * time.Minute).Should(gexec.Exit())
			return session
		}
		s := doctor("--package", "python3-sklearn")
		Expect(s.ExitCode()).To(Equal(0))
		Expect(s.Out).To(gbytes.Say(`ok +image +pyharness-packages:\w+ (built in \S+|found by its content tag, not rebuilt): \S+ -> pyharness-packages:\w+ \(python3-sklearn\)`))
		Expect(s.Out).To(gbytes.Say(`info +in a suite +var _ = containerbackend.Configure\(container.WithPackages\("python3-sklearn"\)\)`))
		Expect(s.Out).To(gbytes.Say(`ok +container +started a container`))

		s = doctor("--package", "python3-no-such-package-pyharness")
		Expect(s.ExitCode()).To(Equal(1))
		Expect(s.Out).To(gbytes.Say(`FAIL +image +pyharness image: WithPackages: package python3-no-such-package-pyharness on \S+: apt-get cannot find it`))
	}, buildTimeout)

	It("says how to fix a missing Docker when asked to build", hostView, func(ctx SpecContext) {
		cmd := exec.Command("unshare", "--map-root-user", "--mount", "sh", "-c", `mount -t tmpfs none /run && exec "$@"`, "sh", os.Args[0], suite.Run)
		cmd.Env = append(os.Environ(), childEnv+"=no-docker-image", "DOCKER_HOST=")
		session, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		Eventually(session).Should(gexec.Exit(3))
		Expect(session.Out).To(gbytes.Say(`docker is not reachable.*\| is ErrDockerUnavailable: true`))
	}, timeout)
})
