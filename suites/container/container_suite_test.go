package container_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/realpy/container"
)

// The container backend: transports, numpy in forked workers, reuse, and
// cleanup of runs killed outright.
func TestContainer(t *testing.T) {
	switch os.Getenv(childEnv) {
	case "killed-run":
		runKilledRun()
		return
	case "no-docker":
		_, err := container.Run(context.Background())
		fmt.Println("error:", err)
		os.Exit(3)
	case "private-tmp": // its temp dir is a tmpfs the engine cannot see
		c, err := container.Run(context.Background(), container.WithEngineFS(container.SharedFS))
		fmt.Println("error:", err)
		_ = c.Close(context.Background())
		os.Exit(3)
	}
	RegisterFailHandler(Fail)
	// Eventually bounds waits on real Python (a process's output, a pool's
	// healing): a bound, not a measurement, so one that a loaded CI machine
	// under -race -p never reaches by accident.
	SetDefaultEventuallyTimeout(time.Minute)
	RunSpecs(t, "Container Suite")
}

const childEnv = "PYHARNESS_TEST_CONTAINER_CHILD"

var _ = harness.SkipUnselectedIntegration()

// Every spec leaves no container of ours behind, unless it asked for reuse
// (and then removes it itself).
var _ = BeforeEach(func(ctx SpecContext) {
	DeferCleanup(func(ctx SpecContext) {
		Expect(container.List(ctx)).To(BeEmpty(), "a spec left a container behind")
	})
})

func testdata() string {
	dir, err := filepath.Abs("testdata")
	if err != nil {
		panic(err)
	}
	return dir
}
