package container

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/moby/moby/client"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/realpy/container"
	"github.com/pyharness/pyharness/suites/internal/suite"
)

// The container backend: transports, numpy in forked workers, reuse, and
// cleanup of runs killed outright.
//
// Every spec leaves no container of this process behind, unless it asked
// for reuse (and then removes it itself). Under ginkgo -p the specs run
// side by side: a process looks at the containers it started (their owner
// labels name it), not at the other processes'. The specs that reap what
// dead owners left are Serial: another process's Run reaps first.
func describe(text string, args ...any) bool {
	return suite.Describe("container", func() {
		BeforeEach(func(ctx SpecContext) {
			DeferCleanup(func(ctx SpecContext) {
				Expect(ours(ctx)).To(BeEmpty(), "a spec left a container behind")
			})
		})
	}, text, args...)
}

// ours lists the ids of the pyharness containers this process started
// (running or not): those whose owner labels name this host and pid.
func ours(ctx context.Context) ([]string, error) {
	cli, err := container.Client(ctx)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	hostname, _ := os.Hostname()
	list, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).
		Add("label", container.LabelManaged+"=true").
		Add("label", container.LabelOwnerHost+"="+hostname).
		Add("label", container.LabelOwnerPid+"="+strconv.Itoa(os.Getpid()))})
	if err != nil {
		return nil, fmt.Errorf("list this process's containers: %w", err)
	}
	ids := make([]string, 0, len(list.Items))
	for _, item := range list.Items {
		ids = append(ids, item.ID)
	}
	return ids, nil
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
