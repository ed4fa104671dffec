package container

import (
	"context"
	"fmt"
	"os"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/realpy/container"
	"github.com/pyharness/pyharness/suites/internal/suite"
)

// The container backend: transports, numpy in forked workers, reuse, and
// cleanup of runs killed outright.
//
// Every spec leaves no container of ours behind, unless it asked for reuse
// (and then removes it itself).
func describe(text string, args ...any) bool {
	return suite.Describe("container", func() {
		BeforeEach(func(ctx SpecContext) {
			DeferCleanup(func(ctx SpecContext) {
				Expect(container.List(ctx)).To(BeEmpty(), "a spec left a container behind")
			})
		})
	}, text, args...)
}

const childEnv = "PYHARNESS_TEST_CONTAINER_CHILD"

// Child runs the child process a spec of this package started (the suites
// binary with childEnv set) and reports whether it did: then the binary
// runs no specs. Some children exit with status 3 after printing the error
// the spec reads.
func Child() bool {
	switch os.Getenv(childEnv) {
	case "killed-run":
		runKilledRun()
		return true
	case "no-docker":
		_, err := container.Run(context.Background())
		fmt.Println("error:", err)
		os.Exit(3)
	case "no-docker-image":
		buildWithoutDocker()
	case "private-tmp": // its temp dir is a tmpfs the engine cannot see
		c, err := container.Run(context.Background(), container.WithEngineFS(container.SharedFS))
		fmt.Println("error:", err)
		_ = c.Close(context.Background())
		os.Exit(3)
	}
	return false
}

func testdata() string { return suite.Testdata("container") }
