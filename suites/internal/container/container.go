package container

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/moby/moby/client"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
	"github.com/testcontainers/testcontainers-go"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/isolation/leak"
	"github.com/pyharness/pyharness/realpy"
	"github.com/pyharness/pyharness/realpy/container"
	"github.com/pyharness/pyharness/suites/internal/suite"
	"github.com/pyharness/pyharness/wire"
)

var timeout = SpecTimeout(5 * time.Minute)

// hostView marks specs that need to see the engine's host: its processes
// (/proc), or namespaces of their own (unshare). They cannot run inside a
// container that only talks to the engine through its socket; ci/run's
// run from inside a container leaves them out by this label.
var hostView = Label("host-view")

// run starts a container closed when the spec ends, also when Run fails.
func run(ctx context.Context, opts ...testcontainers.ContainerCustomizer) *container.Container {
	GinkgoHelper()
	c, err := container.Run(ctx, opts...)
	DeferCleanup(func(ctx SpecContext) { Expect(c.Close(ctx)).To(Succeed()) })
	Expect(err).NotTo(HaveOccurred())
	return c
}

// refusedHere reports whether transport cannot work with this engine (a
// Unix socket, where the engine does not see this machine's files), after
// checking that Run refuses it saying so.
func refusedHere(ctx context.Context, transport container.Transport) bool {
	GinkgoHelper()
	fs, why, err := container.DetectEngineFS(ctx)
	Expect(err).NotTo(HaveOccurred())
	if transport != container.UnixSocket || fs != container.RemoteFS {
		return false
	}
	_, err = container.Run(ctx, container.WithTransport(transport))
	Expect(err).To(MatchError(ContainSubstring("WithTransport(UnixSocket) needs an engine that sees this machine's files")))
	GinkgoWriter.Printf("%s: refused here, as it must be (%s)\n", transport, why)
	return true
}

// runKilledRun starts a container and waits to be killed with SIGKILL.
func runKilledRun() {
	c, err := container.Run(context.Background())
	if err != nil {
		os.Stdout.WriteString("error: " + err.Error() + "\n")
		os.Exit(1)
	}
	os.Stdout.WriteString("killed-run container id: " + c.GetContainerID() + "\n") // not testcontainers' own "Starting container: <short id>"
	// Wait to be killed. A bare select{} is a fatal "all goroutines are
	// asleep" in a static binary with nothing else running (the run inside a
	// container); waiting for a signal is not.
	wait := make(chan os.Signal, 1)
	signal.Notify(wait, syscall.SIGTERM)
	<-wait
}

var _ = describe("The container backend", harness.Integration, harness.PythonContainer, func() {
	for _, transport := range []container.Transport{container.UnixSocket, container.TCP} {
		It("serves a pool over "+string(transport)+" and removes the container on Close", func(ctx SpecContext) {
			if refusedHere(ctx, transport) {
				return
			}
			c, err := container.Run(ctx, container.WithTransport(transport))
			Expect(err).NotTo(HaveOccurred())
			id := c.GetContainerID()
			Expect(c.Addr()).To(HavePrefix(string(transport) + ":"))

			p, err := c.StartPool(ctx, realpy.WithSize(2))
			Expect(err).NotTo(HaveOccurred())
			var hello realpy.Hello
			Expect(p.Call(ctx, "ping", nil, &hello)).To(Succeed())
			Expect(hello.WorkerID).To(ContainSubstring("pyharness-"))
			var back string
			Expect(p.Call(ctx, "echo", "through the container", &back)).To(Succeed())
			Expect(back).To(Equal("through the container"))
			Expect(p.Stats()).To(And(HaveField("Spawned", BeZero()), HaveField("Forked", Equal(int64(2)))))
			Expect(p.Close()).To(Succeed())

			Expect(c.Close(ctx)).To(Succeed())
			Expect(container.List(ctx)).NotTo(ContainElement(id))
		}, timeout)
	}

	It("runs the interpreter WithPython names, and fails to start with one the image lacks", func(ctx SpecContext) {
		c := run(ctx, container.WithOptions(realpy.WithPython("python3"), realpy.WithStartTimeout(time.Minute)))
		p, err := c.StartPool(ctx, realpy.WithSize(1))
		DeferCleanup(p.Close)
		Expect(err).NotTo(HaveOccurred())
		var info struct{ Executable string }
		Expect(p.Call(ctx, "info", nil, &info)).To(Succeed())
		Expect(info.Executable).To(ContainSubstring("python3"))

		bad, err := container.Run(ctx, container.WithOptions(realpy.WithPython("/no/such/python"), realpy.WithStartTimeout(30*time.Second)))
		DeferCleanup(func(ctx SpecContext) { Expect(bad.Close(ctx)).To(Succeed()) })
		Expect(err).To(HaveOccurred(), "the option is honoured, not dropped")
	}, timeout)

	It("refuses options no container can honour", func(ctx SpecContext) {
		_, err := container.Run(ctx, container.WithOptions(realpy.WithModules("m"), realpy.WithDir("/tmp")))
		var oe *realpy.OptionError
		Expect(errors.As(err, &oe)).To(BeTrue())
		Expect(oe.Option).To(Equal("WithDir"))
	}, timeout)

	It("publishes the TCP port on loopback where it is dialled there, and refuses connections without the secret (#11.8)", func(ctx SpecContext) {
		c := run(ctx, container.WithTransport(container.TCP))
		host, port, err := c.PortHostIP(ctx)
		Expect(err).NotTo(HaveOccurred())
		where, secret, _ := strings.Cut(strings.TrimPrefix(c.Addr(), "tcp:"), "#")
		dialled, _, err := net.SplitHostPort(where)
		Expect(err).NotTo(HaveOccurred())
		if ip := net.ParseIP(dialled); dialled == "localhost" || ip != nil && ip.IsLoopback() {
			Expect(host).To(Equal("127.0.0.1"), "nothing off this machine reaches it")
		} else { // a container on a network of its own dials the engine's host at its gateway
			Expect(host).To(Equal("0.0.0.0"))
			GinkgoWriter.Printf("published on every interface, dialled at %s: %s\n", where, c.Path())
		}

		Expect(secret).NotTo(BeEmpty())
		Expect(where).To(HaveSuffix(":" + port))
		intruder, err := net.Dial("tcp", where)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(intruder.Close)
		frame, err := wire.AppendFrame(nil, []byte(`{"id": 1, "method": "fork", "args": {"worker_id": "mine"}}`), wire.DefaultMaxFrame)
		Expect(err).NotTo(HaveOccurred())
		_, err = intruder.Write(frame)
		Expect(err).NotTo(HaveOccurred())
		Expect(intruder.SetReadDeadline(time.Now().Add(10 * time.Second))).To(Succeed())
		n, err := intruder.Read(make([]byte, 1))
		Expect(n).To(BeZero(), "no fork for a connection without the secret")
		Expect(err).To(HaveOccurred())

		p, err := c.StartPool(ctx, realpy.WithSize(1))
		DeferCleanup(p.Close)
		Expect(err).NotTo(HaveOccurred(), "the pool, which has the secret, forks")
		Expect(p.Call(ctx, "echo", 1, nil)).To(Succeed())
	}, timeout)

	It("ends calls by their deadline and closes its pool when the container is paused (#11.1)", func(ctx SpecContext) {
		for _, transport := range []container.Transport{container.UnixSocket, container.TCP} {
			if refusedHere(ctx, transport) {
				continue
			}
			c := run(ctx, container.WithTransport(transport))
			p, err := c.StartPool(ctx, realpy.WithSize(2), realpy.WithGrace(time.Second))
			DeferCleanup(p.Close)
			Expect(err).NotTo(HaveOccurred())
			cli, err := container.Client(ctx)
			Expect(err).NotTo(HaveOccurred())
			_, err = cli.ContainerPause(ctx, c.GetContainerID(), client.ContainerPauseOptions{})
			cli.Close()
			Expect(err).NotTo(HaveOccurred())

			short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			start := time.Now()
			Expect(p.Call(short, "sleep", 5, nil)).To(MatchError(context.DeadlineExceeded))
			cancel()
			GinkgoWriter.Printf("stuck matrix: docker pause (%s): call with a 500 ms deadline took %v\n", transport, time.Since(start).Round(time.Millisecond))
			start = time.Now()
			Expect(p.Close()).To(Succeed())
			GinkgoWriter.Printf("stuck matrix: docker pause (%s): pool Close took %v\n", transport, time.Since(start).Round(time.Millisecond))
			start = time.Now()
			Expect(c.Close(ctx)).To(Succeed())
			GinkgoWriter.Printf("stuck matrix: docker pause (%s): container Close took %v\n", transport, time.Since(start).Round(time.Millisecond))
		}
	}, timeout)

	It("gives each worker's host pid, the one the leak checks see", hostView, func(ctx SpecContext) {
		c := run(ctx)
		p, err := c.StartPool(ctx, realpy.WithSize(2))
		DeferCleanup(p.Close)
		Expect(err).NotTo(HaveOccurred())

		zygote := p.Zygote().HostPid()
		Expect(zygote).To(BeNumerically(">", 0), "the zygote is visible from here")
		owned, err := leak.OwnedProcesses()
		Expect(err).NotTo(HaveOccurred())
		var hosts []int
		for _, w := range p.Workers() {
			host := w.HostPid()
			hosts = append(hosts, host)
			Expect(host).To(BeNumerically(">", 0))
			Expect(host).NotTo(Equal(w.Pid()), "Pid is the pid inside the container's namespace")
			Expect(owned).To(ContainElement(And(HaveField("Pid", host), HaveField("PPid", zygote))),
				"the leak snapshot reports worker %s by its host pid", w.ID())
		}
		Expect(p.Close()).To(Succeed())
		owned, err = leak.OwnedProcesses()
		Expect(err).NotTo(HaveOccurred())
		Expect(hosts).To(HaveLen(2))
		for _, host := range hosts {
			Expect(owned).NotTo(ContainElement(HaveField("Pid", host)), "closed workers are gone")
		}
	}, timeout)

	It("preloads numpy in the zygote and computes with it in forked workers", func(ctx SpecContext) {
		c := run(ctx, container.WithOptions(realpy.WithPreload("numpy"), realpy.WithModules("numeric"), realpy.WithPythonPath(testdata())))
		p, err := c.StartPool(ctx, realpy.WithSize(2))
		DeferCleanup(p.Close)
		Expect(err).NotTo(HaveOccurred())

		var info struct{ Loaded []string }
		Expect(p.Zygote().Info(ctx, &info)).To(Succeed())
		Expect(info.Loaded).To(ContainElement("numpy"), "imported once, before forking")

		var mean float64
		Expect(p.Call(ctx, "mean", []float64{1, 2, 3, 4}, &mean)).To(Succeed())
		Expect(mean).To(Equal(2.5))
		var product [][]float64
		Expect(p.Call(ctx, "matmul", map[string]any{"a": [][]int{{1, 2}, {3, 4}}, "b": [][]int{{5}, {6}}}, &product)).To(Succeed())
		Expect(product).To(Equal([][]float64{{17}, {39}}))
	}, timeout)

	It("gives the container's zygote the thread limits before it imports numpy, and none with WithThreadLimits(false)", func(ctx SpecContext) {
		envOf := func(opts ...realpy.Option) map[string]string {
			GinkgoHelper()
			c := run(ctx, container.WithOptions(append([]realpy.Option{realpy.WithPreload("numpy"), realpy.WithModules("numeric"),
				realpy.WithPythonPath(testdata())}, opts...)...))
			p, err := c.StartPool(ctx, realpy.WithSize(1))
			DeferCleanup(p.Close)
			Expect(err).NotTo(HaveOccurred())
			var env map[string]string
			Expect(p.Call(ctx, "thread_env", nil, &env)).To(Succeed())
			return env
		}
		limited := envOf()
		Expect(limited).To(HaveLen(5))
		Expect(limited).To(HaveEach(MatchRegexp(`^[1-9][0-9]*$`)), "max(1, cores / workers) in each")
		Expect(limited).To(HaveEach(Equal(limited["OMP_NUM_THREADS"])))
		Expect(envOf(realpy.WithThreadLimits(false))).To(HaveEach(BeEmpty()))
	}, timeout)

	// Serial: a warm container is found by its content hash, machine-wide.
	It("attaches to the warm container of the same content hash when reuse is on", Serial, func(ctx SpecContext) {
		first, err := container.Run(ctx, container.WithReuse(true))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() { Expect(testcontainers.TerminateContainer(first.DockerContainer)).To(Succeed()) })

		second, err := container.Run(ctx, container.WithReuse(true))
		Expect(err).NotTo(HaveOccurred())
		Expect(second.Reused).To(BeTrue())
		Expect(second.GetContainerID()).To(Equal(first.GetContainerID()))
		Expect(second.Close(ctx)).To(Succeed(), "Close keeps a reused container")
		Expect(container.List(ctx)).To(ContainElement(first.GetContainerID()))

		p, err := second.StartPool(ctx, realpy.WithSize(1))
		Expect(err).NotTo(HaveOccurred())
		Expect(p.Call(ctx, "ping", nil, nil)).To(Succeed())
		Expect(p.Close()).To(Succeed())
	}, timeout)

	// Serial: another process's Run would reap the killed run's container first.
	It("removes what a run killed with SIGKILL left behind", Serial, func(ctx SpecContext) {
		cmd := exec.Command(os.Args[0], suite.Run)
		cmd.Env = append(os.Environ(), childEnv+"=killed-run")
		run, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(run.Kill)
		Eventually(run).WithTimeout(3 * time.Minute).Should(gbytes.Say(`killed-run container id: ([0-9a-f]+)\n`))
		id := regexp.MustCompile(`killed-run container id: ([0-9a-f]+)`).FindStringSubmatch(string(run.Out.Contents()))[1]

		Eventually(run.Kill()).Should(gexec.Exit(128 + 9))
		Expect(container.List(ctx)).To(ContainElement(id), "nothing removed it: no Ryuk, no cleanup")

		removed, err := container.ReapDead(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(removed).To(ContainElement(id))
		Expect(container.List(ctx)).NotTo(ContainElement(id))
	}, timeout)

	// Serial: another process's Run would reap the orphan first.
	It("reaps the workers of a runner container that is gone, and leaves another machine's alone", Serial, func(ctx SpecContext) {
		owned := func(host string) *container.Container {
			GinkgoHelper()
			c, err := container.Run(ctx, container.WithCustomizers(testcontainers.WithLabels(map[string]string{
				container.LabelOwnerHost:  host,           // as a runner container's hostname: its short id
				container.LabelOwnerPidNS: "pid:[424242]", // not this process's namespace
			})))
			DeferCleanup(func(ctx SpecContext) {
				if err := testcontainers.TerminateContainer(c.DockerContainer); err != nil && !strings.Contains(err.Error(), "No such container") {
					Expect(err).NotTo(HaveOccurred())
				}
				Expect(c.Close(ctx)).To(Succeed())
			})
			Expect(err).NotTo(HaveOccurred())
			return c
		}
		elsewhere := owned("build-agent-7")
		orphan := owned("0123456789ab") // no such container on this engine (started last: every Run reaps first)
		removed, err := container.ReapDead(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(removed).To(ContainElement(orphan.GetContainerID()))
		Expect(removed).NotTo(ContainElement(elsewhere.GetContainerID()), "a machine's processes are not ours to judge")
		Expect(container.List(ctx)).To(ContainElement(elsewhere.GetContainerID()))
	}, timeout)

	It("says how to fix a missing Docker instead of panicking", hostView, func(ctx SpecContext) {
		// A child in user and mount namespaces of its own (no privilege needed)
		// where /run (and so docker.sock) is an
		// empty tmpfs: no Docker engine to be found.
		cmd := exec.Command("unshare", "--map-root-user", "--mount", "sh", "-c", `mount -t tmpfs none /run && exec "$@"`, "sh", os.Args[0], suite.Run)
		cmd.Env = append(os.Environ(), childEnv+"=no-docker", "DOCKER_HOST=")
		session, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		Eventually(session).WithTimeout(time.Minute).Should(gexec.Exit(3))
		Expect(session.Out).To(gbytes.Say("docker is not reachable"))
		Expect(session.Out).To(gbytes.Say("PYHARNESS_BACKEND=process"))
	}, timeout)
})

// An engine that shares no filesystem with the tests: a remote engine, or
// the tests running inside a container with the engine's socket mounted
// (ci/run runs this suite that way too, where the detection says RemoteFS).
var _ = describe("The container backend on an engine that shares no filesystem (#15)", harness.Integration, harness.PythonContainer, func() {
	It("copies the Python path in, bind-mounts nothing, and connects over TCP", func(ctx SpecContext) {
		c := run(ctx, container.WithEngineFS(container.RemoteFS),
			container.WithOptions(realpy.WithPythonPath(filepath.Join(testdata(), "plain")), realpy.WithModules("greeter")))
		Expect(c.Transport).To(Equal(container.TCP))
		Expect(c.Addr()).To(HavePrefix("tcp:"))
		Expect(c.Path()).To(And(ContainSubstring("copied in, no bind mounts"), ContainSubstring("engine filesystem remote")))
		GinkgoWriter.Println("path:", c.Path())

		info, err := c.Inspect(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(info.Mounts).To(BeEmpty(), "the worker container has no mounts at all")
		Expect(info.HostConfig.Binds).To(BeEmpty())
		Expect(info.HostConfig.Mounts).To(BeEmpty())

		p, err := c.StartPool(ctx, realpy.WithSize(2))
		DeferCleanup(p.Close)
		Expect(err).NotTo(HaveOccurred())
		var got string
		Expect(p.Call(ctx, "greet", "remote", &got)).To(Succeed())
		Expect(got).To(Equal("hello remote"))
		Expect(p.Call(ctx, "loud", "remote", &got)).To(Succeed())
		Expect(got).To(Equal("HELLO REMOTE!"), "a module in a subdirectory was copied too")
	}, timeout)

	It("refuses a Unix socket there, saying why", func(ctx SpecContext) {
		_, err := container.Run(ctx, container.WithEngineFS(container.RemoteFS), container.WithTransport(container.UnixSocket))
		Expect(err).To(MatchError(And(ContainSubstring("WithTransport(UnixSocket) needs an engine that sees this machine's files"),
			ContainSubstring("WithEngineFS"))))
	}, timeout)

	It("says which filesystem it detected, and why", func(ctx SpecContext) {
		fs, why, err := container.DetectEngineFS(ctx)
		Expect(err).NotTo(HaveOccurred())
		GinkgoWriter.Printf("detected: %s (%s)\n", fs, why)
		if want := os.Getenv("PYHARNESS_TEST_EXPECT_ENGINE_FS"); want != "" { // ci/run says where it runs the suite
			Expect(fs).To(Equal(container.EngineFS(want)))
		}
		GinkgoT().Setenv(container.EnvEngineFS, "remote")
		fs, why, err = container.DetectEngineFS(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(fs).To(Equal(container.RemoteFS))
		Expect(why).To(Equal(container.EnvEngineFS + "=remote"))
		GinkgoT().Setenv(container.EnvEngineFS, "nfs")
		_, _, err = container.DetectEngineFS(ctx)
		Expect(err).To(MatchError(ContainSubstring(`use "shared" or "remote"`)))
	}, timeout)

	It("names the cause when the engine cannot see a directory it is asked to bind-mount", func(ctx SpecContext) {
		if fs, _, err := container.DetectEngineFS(ctx); err == nil && fs == container.RemoteFS {
			// Here (inside a container) the engine really does not see our files.
			_, err := container.Run(ctx, container.WithEngineFS(container.SharedFS))
			Expect(err).To(MatchError(And(ContainSubstring("the Docker engine does not see this machine's files"),
				ContainSubstring("WithEngineFS(container.RemoteFS)"))))
			return
		}
		// On the engine's machine: a child whose temp dir is a tmpfs of its
		// own mount namespace, which the engine cannot see.
		cmd := exec.Command("unshare", "--map-root-user", "--mount", "sh", "-c", `mount -t tmpfs none /mnt && TMPDIR=/mnt exec "$@"`, "sh", os.Args[0], suite.Run)
		cmd.Env = append(os.Environ(), childEnv+"=private-tmp")
		session, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		Eventually(session).WithTimeout(2 * time.Minute).Should(gexec.Exit(3))
		Expect(session.Out).To(gbytes.Say(`the Docker engine does not see this machine's files: the bind-mounted directory /mnt/`))
		Expect(session.Out).To(gbytes.Say(`WithEngineFS\(container.RemoteFS\)`))
	}, timeout)
})
