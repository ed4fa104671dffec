// Finding and reaping pyharness containers.

package container

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/pyharness/pyharness/internal/proc"
	"github.com/testcontainers/testcontainers-go"
)

// Client returns a Docker client, or an error that says how to get one.
func Client(ctx context.Context) (*testcontainers.DockerClient, error) {
	applyLogger(nil, nil) // quiet, unless the process chose a logger: no "Connected to docker" banner
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w (%v): start Docker (for instance `sudo systemctl start docker`, or set DOCKER_HOST), or run on the process backend with PYHARNESS_BACKEND=process", ErrDockerUnavailable, err)
	}
	return cli, nil
}

// ReapDead removes the pyharness containers whose owner process, on this
// host, is dead and that are not marked for reuse; it returns their ids.
func ReapDead(ctx context.Context) ([]string, error) {
	cli, err := Client(ctx)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	list, err := listManaged(ctx, cli)
	if err != nil {
		return nil, err
	}
	hostname, _ := os.Hostname()
	var removed []string
	for _, item := range list.Items {
		l := item.Labels
		if l[LabelReuse] == "true" {
			continue
		}
		if l[LabelOwnerHost] != hostname || (l[LabelOwnerPidNS] != "" && l[LabelOwnerPidNS] != pidNamespace()) {
			// An owner elsewhere: another machine, or another container (a
			// CI runner, named by its id). The latter is dead once the
			// engine no longer has that container.
			if !ownerContainerGone(ctx, cli, l[LabelOwnerHost]) {
				continue
			}
		} else {
			pid, _ := strconv.Atoi(l[LabelOwnerPid])
			started, _ := strconv.ParseUint(l[LabelOwnerStart], 10, 64)
			if now, alive := proc.StartTime(pid); alive && now == started {
				continue
			}
		}
		if _, err := cli.ContainerRemove(ctx, item.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
			return removed, fmt.Errorf("pyharness containers: remove %s: %w", item.ID, err)
		}
		removed = append(removed, item.ID)
	}
	return removed, nil
}

// containerID matches a container's default hostname: its short id.
var containerID = regexp.MustCompile(`^[0-9a-f]{12}$`)

// ownerContainerGone reports whether host names a container (by the short
// id it has as hostname) that the engine no longer has.
func ownerContainerGone(ctx context.Context, cli *testcontainers.DockerClient, host string) bool {
	if !containerID.MatchString(host) {
		return false // a machine's name: its processes are not ours to judge
	}
	_, err := cli.ContainerInspect(ctx, host, client.ContainerInspectOptions{})
	return cerrdefs.IsNotFound(err)
}

// pidNamespace names this process's pid namespace ("" where unknown).
func pidNamespace() string {
	ns, _ := os.Readlink("/proc/self/ns/pid")
	return ns
}

// List returns the ids of the pyharness containers present (running or not).
func List(ctx context.Context) ([]string, error) {
	cli, err := Client(ctx)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	list, err := listManaged(ctx, cli)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(list.Items))
	for _, item := range list.Items {
		ids = append(ids, item.ID)
	}
	return ids, nil
}

func listManaged(ctx context.Context, cli *testcontainers.DockerClient) (client.ContainerListResult, error) {
	list, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true,
		Filters: make(client.Filters).Add("label", LabelManaged+"=true")})
	if err != nil {
		return list, fmt.Errorf("pyharness containers: list: %w", err)
	}
	return list, nil
}
