// A scikit-learn service's integration suite, as a user's own module
// writes it: the shared pool on either backend, and on the container
// backend an image with python3-sklearn built from a package list (once;
// later runs find it by its content tag). suites/internal/container/images.go
// runs it with PYHARNESS_BACKEND=container. (The directory's leading _
// keeps `ginkgo -r` and `go test ./...` of the repository out of it.)
package sklearnsuite_test

import (
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/harness/containerbackend" // links the container backend: PYHARNESS_BACKEND=container
	"github.com/pyharness/pyharness/realpy"
	"github.com/pyharness/pyharness/realpy/container"
)

func TestSklearn(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(time.Minute)
	RunSpecs(t, "scikit-learn service")
}

var _ = harness.SkipUnselectedIntegration()

// On the container backend: python3-sklearn on the base image. On the
// process backend this does nothing (the machine's own Python has it).
var _ = containerbackend.Configure(container.WithPackages("python3-sklearn"))

var python = harness.NewSharedPool(realpy.WithSize(2), realpy.WithModules("model"), realpy.WithPythonPath("../images/sklearn"))

var _ = Describe("The model", harness.Integration, func() {
	It("fits and predicts through the shared pool", func(ctx SpecContext) {
		var got struct{ Predicted []int }
		Expect(python.Pool().Call(ctx, "fit_predict", map[string]any{
			"x": [][]float64{{0}, {1}, {2}, {8}, {9}, {10}}, "y": []int{0, 0, 0, 1, 1, 1},
			"query": [][]float64{{0.5}, {9.5}},
		}, &got)).To(Succeed())
		Expect(got.Predicted).To(Equal([]int{0, 1}))
	})
})
