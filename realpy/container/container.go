// Package container runs the pyharness worker in a testcontainer: one
// container per suite holding a zygote that imports the handler modules (and
// heavy preloads such as numpy) once and forks a worker per connection. It
// has the shape of a testcontainers-go module:
//
//	c, err := container.Run(ctx, container.WithOptions(
//		realpy.WithModules("sentiment"), realpy.WithPythonPath("testdata"),
//		realpy.WithPreload("numpy")))
//	defer c.Close(ctx)           // also when err != nil: c may hold a container
//	pool, err := c.StartPool(ctx, realpy.WithSize(4))
//
// Transports: a Unix socket in a bind-mounted host directory (the default
// where the engine sees this machine's files) or a mapped TCP port. Where
// the engine shares no filesystem with this process (a remote DOCKER_HOST,
// or tests running inside a container that talks to the host's engine
// through a mounted socket: see EngineFS, detected), nothing is
// bind-mounted: the WithPythonPath directories are copied into the
// container and the zygote is reached over TCP. Container.Path says which
// path was taken and why.
//
// Images: python/Dockerfile on ARG BASE (default python:3.12-slim, the
// official image); $PYHARNESS_BASE_IMAGE or WithBaseImage picks another base,
// such as the one `pyharness base-image` builds from Debian's packages where no
// registry is reachable. The worker image is tagged with a content hash of
// the worker sources, the Dockerfile and the base (its name and id), and
// built only when missing. The user's packages: WithImage (their image),
// WithPackages and WithPipRequirements (installed on the base),
// WithDockerfile (their Dockerfile), each tagged by content and built once
// per machine; BuildImage builds without starting a container.
//
// Cleanup: containers carry labels (run id, owner host and pid); every Run
// first removes the containers of dead owners that are not marked for reuse,
// so a run killed outright is cleaned up by the next one, with or without
// Ryuk. With reuse (WithReuse, $PYHARNESS_REUSE=1) a second run attaches to
// the warm container of the same content hash instead of starting one.
package container

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/pyharness/pyharness/internal/proc"
	"github.com/pyharness/pyharness/internal/realpyx"
	"github.com/pyharness/pyharness/internal/workersrc"
	"github.com/pyharness/pyharness/realpy"
)

// Environment variables the backend reads.
const (
	EnvBaseImage = "PYHARNESS_BASE_IMAGE" // base image of the worker image
	EnvReuse     = "PYHARNESS_REUSE"      // 1: keep the container for the next run
	DefaultBase  = "python:3.12-slim"
)

// Labels on every container the backend starts.
const (
	LabelManaged    = "org.pyharness.managed"
	LabelRunID      = "org.pyharness.run-id"
	LabelOwnerHost  = "org.pyharness.owner-host"
	LabelOwnerPid   = "org.pyharness.owner-pid"
	LabelOwnerStart = "org.pyharness.owner-start"
	LabelOwnerPidNS = "org.pyharness.owner-pidns" // the owner's pid namespace: its pid means nothing outside it
	LabelReuse      = "org.pyharness.reuse"
	LabelHash       = "org.pyharness.hash"
)

const (
	socketDir = "/run/pyharness"
	tcpPort   = "7777/tcp"
	imageRepo = "pyharness-worker"
)

// Transport says how the host reaches the zygote in the container.
type Transport string

const (
	// UnixSocket: a socket in a bind-mounted host directory (the default).
	UnixSocket Transport = "unix"
	// TCP: a mapped port, for a Docker engine on another host.
	TCP Transport = "tcp"
)

// ErrDockerUnavailable says no Docker engine answered.
var ErrDockerUnavailable = errors.New("docker is not reachable")

type options struct {
	base         string
	imageSet     bool     // WithImage: the user's image
	dockerfile   string   // WithDockerfile
	packages     []string // WithPackages
	requirements string   // WithPipRequirements
	transport    Transport
	transportSet bool
	hostIP       string
	hostIPSet    bool
	engineFS     EngineFS
	reuse        bool
	python       []realpy.Option
	customizers  []testcontainers.ContainerCustomizer
	logger       tclog.Logger // WithLogger
}

// Option configures Run. Options of this package and any
// testcontainers.ContainerCustomizer can be passed to Run together.
type Option func(*options)

// Customize makes Option a testcontainers.ContainerCustomizer; Run applies
// the options itself.
func (o Option) Customize(*testcontainers.GenericContainerRequest) error { return nil }

// WithOptions configures the zygote in the container, and the pools that
// Container.StartPool forks from it, with realpy's own options: the
// interpreter's (WithModules, WithPythonPath, WithPreload, WithEnv,
// WithPython, WithMaxFrame, WithStartTimeout) and the workers'
// (WithMaxFrame, WithGrace, WithOutput, ...). WithPythonPath directories are
// mounted read-only (copied in, where the engine does not see this
// machine's files). Run returns a *realpy.OptionError for an option that
// cannot apply in a container (WithDir, pool options).
func WithOptions(opts ...realpy.Option) Option {
	return func(o *options) { o.python = append(o.python, opts...) }
}

// WithBaseImage sets the base image the worker image is built on.
func WithBaseImage(image string) Option { return func(o *options) { o.base = image } }

// WithTransport picks UnixSocket (the default where the engine shares this
// machine's filesystem) or TCP (the default, and the only choice, where it
// does not: see EngineFS).
func WithTransport(t Transport) Option {
	return func(o *options) { o.transport, o.transportSet = t, true }
}

// WithHostIP sets the host address the TCP transport's port is published
// on: "127.0.0.1" by default, so nothing off this machine reaches the
// zygote; "0.0.0.0" for an engine on another machine. Every connection must
// carry the container's secret either way.
func WithHostIP(ip string) Option { return func(o *options) { o.hostIP, o.hostIPSet = ip, true } }

// WithEngineFS says whether the Docker engine sees this process's files,
// instead of detecting it (see EngineFS).
func WithEngineFS(fs EngineFS) Option { return func(o *options) { o.engineFS = fs } }

// WithReuse keeps the container after Close and attaches to it next time.
func WithReuse(reuse bool) Option { return func(o *options) { o.reuse = reuse } }

// WithCustomizers passes testcontainers customizers through.
func WithCustomizers(c ...testcontainers.ContainerCustomizer) Option {
	return func(o *options) { o.customizers = append(o.customizers, c...) }
}

// Container is a running pyharness container.
type Container struct {
	*testcontainers.DockerContainer
	addr  string
	dir   string
	reuse bool
	Image string
	// Steps is how Image was made, from the base up (WithImage,
	// WithDockerfile, WithPackages, the worker layer), and which of them
	// this Run built: the others were found by their content tags.
	Steps  []ImageStep
	custom bool // the image is the user's: WithImage, WithDockerfile, WithPackages
	Reused bool // attached to a container a previous run left warm
	// How the engine is used: whether it sees this machine's files, why
	// that was decided, and the transport that follows.
	EngineFS  EngineFS
	EngineWhy string
	Transport Transport
	reachWhy  string // TCP: why the port is dialled where it is
	// Skipped lists what the copy of the Python path (RemoteFS) left
	// out, each with why: editor lock, swap and backup files, and what is
	// not a readable regular file. It is also one warning line on stderr.
	Skipped []string

	workerOpts []realpy.Option
}

// Run starts (or, with reuse, finds) the container and returns once its
// zygote listens. On error the returned Container may still hold a
// container: Close it.
func Run(ctx context.Context, opts ...testcontainers.ContainerCustomizer) (*Container, error) {
	o := options{base: BaseImage(), transport: UnixSocket, hostIP: "127.0.0.1", reuse: os.Getenv(EnvReuse) == "1"}
	var passthrough []testcontainers.ContainerCustomizer
	for _, opt := range opts {
		if own, ok := opt.(Option); ok {
			own(&o)
		} else {
			passthrough = append(passthrough, opt)
		}
	}
	passthrough = applyLogger(o.logger, append(passthrough, o.customizers...))
	cmd, err := realpyx.NewZygoteCommand(realpyx.TargetContainer, o.python...)
	if err != nil {
		return nil, fmt.Errorf("pyharness container: %w", err)
	}
	var workerOpts []realpy.Option // what the pools forked from this zygote take too
	for _, opt := range o.python {
		if realpyx.AppliesTo(opt, realpyx.TargetAttachedPool) {
			workerOpts = append(workerOpts, opt)
		}
	}

	engineFS, why := o.engineFS, "WithEngineFS"
	if engineFS == DetectFS {
		if engineFS, why, err = DetectEngineFS(ctx); err != nil {
			return nil, err
		}
	} else if engineFS != SharedFS && engineFS != RemoteFS {
		return nil, fmt.Errorf("pyharness container: WithEngineFS(%q): use SharedFS, RemoteFS or DetectFS", engineFS)
	}
	if engineFS == RemoteFS {
		if o.transportSet && o.transport == UnixSocket {
			return nil, fmt.Errorf("pyharness container: WithTransport(UnixSocket) needs an engine that sees this machine's files, and this one does not (%s): "+
				"leave the transport out (TCP is the default here), or say container.WithEngineFS(container.SharedFS) if the engine does see them", why)
		}
		o.transport = TCP
	}
	var dialHost, reachWhy string
	if o.transport == TCP && !o.hostIPSet {
		o.hostIP, dialHost, reachWhy = reach(ctx, engineFS)
	}

	cli, err := Client(ctx)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	if _, err := ReapDead(ctx); err != nil {
		return nil, err
	}
	built, err := buildImage(ctx, &o)
	if err != nil {
		return nil, err
	}
	image := built.Ref

	hash := configHash(image, o.transport, cmd)
	name := "pyharness-" + hash
	c := &Container{Image: image, Steps: built.Steps, custom: o.imageSet || o.dockerfile != "" || len(o.packages) > 0 || o.requirements != "", reuse: o.reuse, workerOpts: workerOpts, EngineFS: engineFS, EngineWhy: why, Transport: o.transport}
	if o.reuse {
		root, err := workersrc.CacheDir()
		if err != nil {
			return nil, err
		}
		c.dir = filepath.Join(root, "containers", hash)
		if err := os.MkdirAll(c.dir, 0o755); err != nil {
			return nil, err
		}
		existing, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true,
			Filters: make(client.Filters).Add("name", "^/?"+name+"$")})
		if err == nil && len(existing.Items) > 0 && existing.Items[0].State == container.StateRunning {
			c.Reused = true
		}
	} else if c.dir, err = proc.MkdirTemp("container"); err != nil {
		return nil, err
	}
	// Private to this user: whoever can reach the socket can run handlers.
	// (Root in the container creates the socket; a Unix socket's peer
	// credentials are checked by the zygote, and every connection must
	// carry the secret.)
	if err := os.Chmod(c.dir, 0o700); err != nil {
		return nil, err
	}
	secret, err := containerSecret(c.dir, o.reuse)
	if err != nil {
		return nil, err
	}

	args := append(slices.Clone(cmd.Args), "--zygote-id", name, "--run-id", cmd.RunID)
	if o.transport == TCP {
		args = append(args, "--listen-tcp", "0.0.0.0:"+strings.TrimSuffix(tcpPort, "/tcp"))
	} else {
		args = append(args, "--listen", socketDir+"/zygote.sock", "--peer-uid", strconv.Itoa(os.Getuid()))
	}
	python := cmd.Python
	if python == "" {
		python = "python3"
	}
	pythonPath := []string{"/opt/pyharness"}
	var mounts []mount.Mount
	if o.transport == UnixSocket {
		mounts = append(mounts, mount.Mount{Type: mount.TypeBind, Source: c.dir, Target: socketDir})
	}
	var copied []string
	for i, dir := range cmd.PythonPath {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return nil, err
		}
		target := fmt.Sprintf("%s/%d", handlerRoot, i)
		if engineFS == RemoteFS {
			copied = append(copied, abs)
		} else {
			mounts = append(mounts, mount.Mount{Type: mount.TypeBind, Source: abs, Target: target, ReadOnly: true})
		}
		pythonPath = append(pythonPath, target)
	}
	env := map[string]string{}
	for _, kv := range cmd.Env {
		k, v, _ := strings.Cut(kv, "=")
		if k == "PYTHONPATH" { // merged, as on the process backend
			pythonPath = append(pythonPath, v)
			continue
		}
		env[k] = v
	}
	env["PYTHONPATH"] = strings.Join(pythonPath, ":")
	env[realpy.EnvRunID] = cmd.RunID
	env[realpyx.ZygoteSecretEnv] = secret
	start, _ := proc.StartTime(os.Getpid())
	hostname, _ := os.Hostname()
	customizers := []testcontainers.ContainerCustomizer{
		testcontainers.WithEntrypoint(python),
		testcontainers.WithCmd(args...),
		testcontainers.WithEnv(env),
		testcontainers.WithLabels(map[string]string{
			LabelManaged:    "true",
			LabelRunID:      cmd.RunID,
			LabelOwnerHost:  hostname,
			LabelOwnerPid:   strconv.Itoa(os.Getpid()),
			LabelOwnerStart: strconv.FormatUint(start, 10),
			LabelOwnerPidNS: pidNamespace(),
			LabelReuse:      strconv.FormatBool(o.reuse),
			LabelHash:       hash,
		}),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			hc.Mounts = append(hc.Mounts, mounts...)
			hc.Init = nil
		}),
		testcontainers.WithWaitStrategy(wait.ForLog("listening on").WithStartupTimeout(cmd.StartTimeout)),
	}
	if o.transport == TCP {
		// Published on o.hostIP only (loopback unless WithHostIP says otherwise).
		hostIP, err := netip.ParseAddr(o.hostIP)
		if err != nil {
			return nil, fmt.Errorf("pyharness container: WithHostIP(%q): %w", o.hostIP, err)
		}
		customizers = append(customizers, testcontainers.WithExposedPorts(tcpPort),
			testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
				hc.PortBindings = network.PortMap{network.MustParsePort(tcpPort): {{HostIP: hostIP}}}
			}))
	}
	if len(copied) > 0 {
		customizers = append(customizers, copyDirsHook(copied, &c.Skipped))
	}
	if o.reuse {
		customizers = append(customizers, testcontainers.WithReuseByName(name))
	}
	customizers = append(customizers, passthrough...)
	ctr, err := testcontainers.Run(ctx, image, customizers...)
	c.DockerContainer = ctr
	if err != nil {
		if m := bindSourceMissing.FindStringSubmatch(err.Error()); m != nil {
			return c, fmt.Errorf("%w (%s)", unreachableDirError("the bind-mounted directory", m[1], ""), err)
		}
		return c, startError(err, image, python)
	}
	if o.transport == UnixSocket {
		// The zygote logged "listening on" once its socket existed: if it is
		// not here, the engine put the bind mount somewhere else.
		if _, err := os.Stat(filepath.Join(c.dir, "zygote.sock")); err != nil {
			return c, unreachableDirError("the socket directory", c.dir, " (the zygote created its socket in it, and it did not appear here)")
		}
	}
	if o.transport == TCP {
		endpoint, err := ctr.PortEndpoint(ctx, tcpPort, "")
		if err != nil {
			return c, fmt.Errorf("pyharness container: mapped port: %w", err)
		}
		if dialHost != "" {
			_, port, err := net.SplitHostPort(endpoint)
			if err != nil {
				return c, fmt.Errorf("pyharness container: mapped port %q: %w", endpoint, err)
			}
			endpoint = net.JoinHostPort(dialHost, port)
		}
		c.addr = "tcp:" + endpoint + "#" + secret
		c.reachWhy = reachWhy
	} else {
		c.addr = "unix:" + filepath.Join(c.dir, "zygote.sock") + "#" + secret
	}
	return c, nil
}

// bindSourceMissing finds the path in the engine's error for a bind mount
// whose source it does not have.
var bindSourceMissing = regexp.MustCompile(`bind source path does not exist: (\S+)`)

// Path says how this container is reached and fed, and why: for the suite
// summary.
func (c *Container) Path() string {
	feed := "the Python path bind-mounted"
	if c.EngineFS == RemoteFS {
		feed = "the Python path copied in, no bind mounts"
	}
	where := "a Unix socket in a bind-mounted directory"
	if c.Transport == TCP {
		where = "TCP at " + strings.TrimPrefix(strings.SplitN(c.addr, "#", 2)[0], "tcp:")
		if c.reachWhy != "" {
			where += " (" + c.reachWhy + ")"
		}
	}
	path := fmt.Sprintf("%s, %s (engine filesystem %s: %s)", where, feed, c.EngineFS, c.EngineWhy)
	if c.custom {
		path += "; image " + (&Image{Steps: c.Steps}).String()
	}
	return path
}

// PortHostIP returns the host address and port the TCP transport's port is
// published on (TCP transport only).
func (c *Container) PortHostIP(ctx context.Context) (hostIP, port string, err error) {
	info, err := c.Inspect(ctx)
	if err != nil {
		return "", "", fmt.Errorf("pyharness container: inspect: %w", err)
	}
	for p, bindings := range info.NetworkSettings.Ports {
		if p.String() == tcpPort && len(bindings) > 0 {
			return bindings[0].HostIP.String(), bindings[0].HostPort, nil
		}
	}
	return "", "", fmt.Errorf("pyharness container: port %s is not published", tcpPort)
}

// containerSecret returns the secret the container's zygote requires: a new
// one, or for a reused container the one kept (0600) in its directory.
func containerSecret(dir string, reuse bool) (string, error) {
	path := filepath.Join(dir, "secret")
	if reuse {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			return strings.TrimSpace(string(b)), nil
		}
	}
	secret := realpyx.NewZygoteSecret()
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("pyharness container: secret: %w", err)
	}
	return secret, nil
}

// Addr returns the zygote's address, with its secret, for
// realpyx.WithZygoteAddr.
func (c *Container) Addr() string { return c.addr }

// StartPool starts a pool whose workers are forked in the container. It
// takes pool options (WithSize, WithHeartbeat, ...) and those of Run's
// WithOptions that apply to workers (WithMaxFrame, WithGrace, WithOutput).
func (c *Container) StartPool(ctx context.Context, opts ...realpy.Option) (*realpy.Pool, error) {
	all := append(slices.Clone(c.workerOpts), opts...)
	return realpy.StartPool(ctx, append(all, realpyx.WithZygoteAddr[realpy.Option](c.addr))...)
}

// Close removes the container, unless it is kept for reuse, and its socket
// directory. Safe on a nil or partly started Container.
func (c *Container) Close(ctx context.Context) error {
	if c == nil {
		return nil
	}
	var err error
	if c.DockerContainer != nil && !c.reuse {
		err = testcontainers.TerminateContainer(c.DockerContainer)
	}
	if c.dir != "" && !c.reuse {
		os.RemoveAll(c.dir)
	}
	return err
}
