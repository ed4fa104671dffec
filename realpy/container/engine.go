package container

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/pyharness/pyharness/internal/proc"
	"github.com/pyharness/pyharness/internal/pytree"
)

// EngineFS says whether the Docker engine sees this process's files.
type EngineFS string

const (
	// DetectFS (the default) decides from the environment: a DOCKER_HOST
	// that is not a local socket, or this process running inside a
	// container (/.dockerenv, /run/.containerenv) where no dockerd shares
	// its mount namespace, means RemoteFS; $PYHARNESS_ENGINE_FS overrides.
	DetectFS EngineFS = ""
	// SharedFS: the engine runs on this machine and sees its files. The
	// zygote's socket is in a bind-mounted directory (UnixSocket) and the
	// WithPythonPath directories are bind-mounted read-only.
	SharedFS EngineFS = "shared"
	// RemoteFS: the engine sees none of this process's files (a remote
	// engine, or tests inside a container talking to the host's engine
	// through a mounted socket). No bind mounts: the WithPythonPath
	// directories are copied into the container before it starts, and the
	// zygote is reached over TCP at the host and port testcontainers-go
	// reports, with the container's secret.
	RemoteFS EngineFS = "remote"
)

// EnvEngineFS overrides the detection: shared or remote.
const EnvEngineFS = "PYHARNESS_ENGINE_FS"

// DetectEngineFS returns what EngineFS the environment implies, and why.
func DetectEngineFS(ctx context.Context) (EngineFS, string, error) {
	switch v := os.Getenv(EnvEngineFS); v {
	case "":
	case string(SharedFS), string(RemoteFS):
		return EngineFS(v), EnvEngineFS + "=" + v, nil
	default:
		return "", "", fmt.Errorf("pyharness container: %s=%q: use %q or %q", EnvEngineFS, v, SharedFS, RemoteFS)
	}
	cli, err := Client(ctx)
	if err != nil {
		return "", "", err
	}
	defer cli.Close()
	host := cli.DaemonHost()
	if !strings.HasPrefix(host, "unix://") {
		return RemoteFS, "the engine is at " + host + ", not a local socket", nil
	}
	for _, marker := range []string{"/.dockerenv", "/run/.containerenv"} {
		if _, err := os.Stat(marker); err != nil {
			continue
		}
		// Inside a container (or a VM made from an image, which has the
		// marker too): the engine sees our files only if it runs in our
		// mount namespace.
		if pid, ok := engineInOurMountNamespace(); ok {
			return SharedFS, fmt.Sprintf("a local engine (%s, dockerd pid %d in this process's mount namespace)", host, pid), nil
		}
		return RemoteFS, "this process runs inside a container (" + marker + ") and the engine is not in its mount namespace", nil
	}
	return SharedFS, "a local engine (" + host + ")", nil
}

// engineInOurMountNamespace finds a dockerd process that shares this
// process's mount namespace.
func engineInOurMountNamespace() (int, bool) {
	ours, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		return 0, false
	}
	pids, err := proc.Pids()
	if err != nil {
		return 0, false
	}
	for _, pid := range pids {
		if st, ok := proc.ReadStat(pid); !ok || st.Comm != "dockerd" {
			continue
		}
		if theirs, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", pid)); err == nil && theirs == ours {
			return pid, true
		}
	}
	return 0, false
}

// reach says where the TCP port is published and which host this process
// dials to reach it, when WithHostIP does not say, and why:
//   - TESTCONTAINERS_HOST_OVERRIDE names the host: loopback publishes on
//     127.0.0.1, anything else on every interface;
//   - an engine on another machine (DOCKER_HOST tcp://...) or a loopback
//     host testcontainers reports for a local engine: its host, published on
//     127.0.0.1 when that is loopback;
//   - inside a container on a network of its own (its hostname is not the
//     engine's: a bridge network, not --network host), the engine's host is
//     this container's default gateway: dialled there, published on every
//     interface.
//
// dial "" means the host testcontainers-go reports. The port is guarded by
// the container's secret wherever it is published.
func reach(ctx context.Context, engineFS EngineFS) (publish, dial, why string) {
	if host := os.Getenv("TESTCONTAINERS_HOST_OVERRIDE"); host != "" {
		if isLoopback(host) {
			return "127.0.0.1", "", "TESTCONTAINERS_HOST_OVERRIDE=" + host
		}
		return "0.0.0.0", "", "TESTCONTAINERS_HOST_OVERRIDE=" + host
	}
	provider, err := testcontainers.NewDockerProvider()
	if err != nil {
		return "127.0.0.1", "", "default"
	}
	defer provider.Close()
	host, err := provider.DaemonHost(ctx)
	if err != nil {
		return "127.0.0.1", "", "default"
	}
	if !isLoopback(host) {
		return "0.0.0.0", "", "the engine is at " + host
	}
	if engineFS == RemoteFS && insideContainer() {
		if info, err := provider.Client().Info(ctx, client.InfoOptions{}); err == nil {
			ours, _ := os.Hostname()
			if info.Info.Name != "" && info.Info.Name != ours {
				if gw, err := defaultGateway(); err == nil {
					return "0.0.0.0", gw, fmt.Sprintf("inside a container on a network of its own (hostname %s, the engine's %s): the engine's host is the gateway %s", ours, info.Info.Name, gw)
				}
			}
		}
	}
	return "127.0.0.1", "", "the engine's host is this machine (" + host + ")"
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func insideContainer() bool {
	for _, marker := range []string{"/.dockerenv", "/run/.containerenv"} {
		if _, err := os.Stat(marker); err == nil {
			return true
		}
	}
	return false
}

// defaultGateway reads the IPv4 default route's gateway from /proc/net/route.
func defaultGateway() (string, error) {
	raw, err := os.ReadFile("/proc/net/route")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(raw), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 3 || f[1] != "00000000" {
			continue
		}
		gw, err := strconv.ParseUint(f[2], 16, 32)
		if err != nil || gw == 0 {
			continue
		}
		return net.IPv4(byte(gw), byte(gw>>8), byte(gw>>16), byte(gw>>24)).String(), nil
	}
	return "", errors.New("no IPv4 default route")
}

// handlerRoot is where copied WithPythonPath directories go in the container.
const handlerRoot = "/opt/pyharness-handlers"

// copyDirsHook copies dirs into the container after it is created and
// before it starts: dirs[i] becomes handlerRoot/i. Regular files are copied
// with their modes; symbolic links are followed (the engine would not see
// their targets); __pycache__ and hidden directories, editor lock, swap and
// backup files, and what is not a readable regular file (a FIFO, a dangling
// link) are left out: every one is appended to *skipped and named on one
// warning line on stderr. Reading stops when ctx ends.
func copyDirsHook(dirs []string, skipped *[]string) testcontainers.ContainerCustomizer {
	return testcontainers.WithAdditionalLifecycleHooks(testcontainers.ContainerLifecycleHooks{
		PostCreates: []testcontainers.ContainerHook{func(ctx context.Context, c testcontainers.Container) error {
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			var left []pytree.Skipped
			for i, dir := range dirs {
				s, err := tarTree(ctx, tw, dir, path.Join(strings.TrimPrefix(handlerRoot, "/"), fmt.Sprint(i)))
				left = append(left, s...)
				if err != nil {
					return fmt.Errorf("pyharness container: copying %s into the container: %w", dir, err)
				}
			}
			for _, s := range left {
				*skipped = append(*skipped, s.String())
			}
			if line := pytree.Line("container: copying the Python path into the container", left); line != "" {
				fmt.Fprintln(os.Stderr, line)
			}
			if err := tw.Close(); err != nil {
				return err
			}
			cli, err := Client(ctx)
			if err != nil {
				return err
			}
			defer cli.Close()
			if _, err := cli.CopyToContainer(ctx, c.GetContainerID(), client.CopyToContainerOptions{DestinationPath: "/", Content: &buf}); err != nil {
				return fmt.Errorf("pyharness container: copying the Python path into the container: %w", err)
			}
			return nil
		}},
	})
}

// tarTree writes the tree under dir into tw, under prefix, and returns what
// it left out.
func tarTree(ctx context.Context, tw *tar.Writer, dir, prefix string) ([]pytree.Skipped, error) {
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: prefix + "/", Mode: 0o755}); err != nil {
		return nil, err
	}
	return pytree.Walk(ctx, dir, nil, func(rel string, info fs.FileInfo) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: path.Join(prefix, rel) + "/", Mode: int64(info.Mode().Perm() | 0o555)})
	}, func(e pytree.Entry) error {
		// Read first: a file that cannot be read whole is left out, not
		// written half into the archive.
		var body bytes.Buffer
		if _, err := io.Copy(&body, io.LimitReader(e.File, e.Info.Size()+1)); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return &pytree.SkipError{Why: pytree.Why(err)}
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: path.Join(prefix, e.Rel), Mode: int64(e.Info.Mode().Perm() | 0o444), Size: int64(body.Len())}); err != nil {
			return err
		}
		_, err := tw.Write(body.Bytes())
		return err
	})
}

// unreachableDirError says the engine does not see this machine's files.
func unreachableDirError(what, dir, why string) error {
	return fmt.Errorf("pyharness container: the Docker engine does not see this machine's files: %s %s is not there on its side%s; "+
		"run with container.WithEngineFS(container.RemoteFS) or %s=remote, which copies the Python path in and connects over TCP",
		what, dir, why, EnvEngineFS)
}
