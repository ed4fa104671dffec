// Package containerbackend links the container backend into a suite: with it
// imported, harness.NewSharedPool runs the suite's pool host in a
// testcontainer when PYHARNESS_BACKEND=container (and NewSharedPoolOn takes
// harness.ContainerBackend). Suites that do not import it compile no Docker
// client, testcontainers or OpenTelemetry.
//
//	import _ "github.com/pyharness/pyharness/harness/containerbackend"
//
// The container is started by realpy/container.Run with the shared pool's
// options that apply to a container (realpy.TargetContainer); see package
// realpy/container for images, transports and reuse.
package containerbackend

import (
	"context"
	"errors"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/realpy"
	"github.com/pyharness/pyharness/realpy/container"
)

func init() {
	harness.RegisterBackend(harness.ContainerBackend, realpy.TargetContainer, start)
}

type host struct{ c *container.Container }

func (h host) Addr() string                    { return h.c.Addr() }
func (h host) Pid() int                        { return -1 }
func (h host) Container() bool                 { return true }
func (h host) Close(ctx context.Context) error { return h.c.Close(ctx) }
func (h host) Path() string                    { return h.c.Path() }

func start(ctx context.Context, opts []realpy.Option) (harness.Host, error) {
	c, err := container.Run(ctx, container.WithLogger(logger), container.WithOptions(opts...))
	if err != nil {
		// c may hold a container that started but did not become ready.
		return nil, errors.Join(err, c.Close(context.WithoutCancel(ctx)))
	}
	return host{c}, nil
}
