// Package containerbackend links the container backend into a suite: with it
// imported, harness.NewSharedPool runs the suite's pool host in a
// testcontainer when PYHARNESS_BACKEND=container (and NewSharedPoolOn takes
// harness.ContainerBackend). Suites that do not import it compile no Docker
// client, testcontainers or OpenTelemetry.
//
//	import _ "github.com/pyharness/pyharness/harness/containerbackend"
//
// The container is started by realpy/container.Run with the shared pool's
// options that apply to a container (those container.Run takes), and the
// container options the suite gives Configure: its image (WithImage,
// WithPackages, WithDockerfile), transport or customizers. See package
// realpy/container for images, transports and reuse.
//
//	// A scikit-learn service's integration suite, on either backend:
//	var _ = containerbackend.Configure(container.WithPackages("python3-sklearn"))
//	var python = harness.NewSharedPool(realpy.WithModules("model"), realpy.WithPythonPath("testdata"))
package containerbackend

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/testcontainers/testcontainers-go"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/realpy"
	"github.com/pyharness/pyharness/realpy/container"
)

func init() {
	harness.RegisterBackend(harness.ContainerBackend, start)
}

type host struct{ c *container.Container }

func (h host) Addr() string                    { return h.c.Addr() }
func (h host) Pid() int                        { return -1 }
func (h host) Container() bool                 { return true }
func (h host) Close(ctx context.Context) error { return h.c.Close(ctx) }
func (h host) Path() string                    { return h.c.Path() }

var (
	mu         sync.Mutex
	configured []testcontainers.ContainerCustomizer
)

// Configure adds container options (container.WithImage,
// container.WithPackages, container.WithDockerfile, container.WithTransport,
// testcontainers customizers, ...) to the container this test binary's
// shared pool host runs in on the container backend; on the process
// backend they do nothing, so one suite runs on both. Call it at package
// level of the suite, next to harness.NewSharedPool (it returns true for
// `var _ =`); every Ginkgo process evaluates it, process 1 uses it. The
// interpreter's options (modules, preloads, Python path) stay the shared
// pool's realpy options.
func Configure(opts ...testcontainers.ContainerCustomizer) bool {
	mu.Lock()
	defer mu.Unlock()
	configured = append(configured, opts...)
	return true
}

func start(ctx context.Context, opts []realpy.Option) (harness.Host, error) {
	mu.Lock()
	all := append(slices.Clone(configured), container.WithLogger(logger), container.WithOptions(opts...))
	mu.Unlock()
	c, err := container.Run(ctx, all...)
	if err != nil {
		// c may hold a container that started but did not become ready.
		return nil, errors.Join(err, c.Close(context.WithoutCancel(ctx)))
	}
	return host{c}, nil
}
