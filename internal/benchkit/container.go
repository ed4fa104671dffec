// The container run of the benchmark.

package benchkit

import (
	"context"
	"fmt"
	"time"

	"github.com/testcontainers/testcontainers-go"

	"github.com/pyharness/pyharness/realpy"
	"github.com/pyharness/pyharness/realpy/container"
)

// runContainer measures the container backend: a cold start (image present,
// new container) and a warm attach to a reused container, each until a pool
// of cfg.Workers forked workers is ready; then pings through that pool.
func runContainer(ctx context.Context, cfg Config, dir string, rep *Report) (*Report, error) {
	rep.Backend = "container"
	hostPython := rep.Python
	copts := []testcontainers.ContainerCustomizer{
		container.WithOptions(realpy.WithPythonPath(dir), realpy.WithModules("pyh_heavy"),
			realpy.WithEnv(fmt.Sprintf("PYH_IMPORT_CPU=%f", cfg.ImportCPU.Seconds()))),
	}
	image, err := container.EnsureImage(ctx, container.BaseImage())
	if err != nil {
		return nil, err
	}
	rep.Python = "container image " + image + " (bare echo on the host's " + rep.Python + ")"
	ready := func(opts ...testcontainers.ContainerCustomizer) (time.Duration, *container.Container, error) {
		start := time.Now()
		c, err := container.Run(ctx, append(copts, opts...)...)
		if err != nil {
			return 0, c, err
		}
		p, err := c.StartPool(ctx, realpy.WithSize(cfg.Workers))
		elapsed := time.Since(start)
		if p != nil {
			defer p.Close()
		}
		return elapsed, c, err
	}
	cold, c, err := ready()
	if cerr := c.Close(ctx); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("container cold start: %w", err)
	}
	rep.ContainerColdMS = ms(cold)

	_, first, err := ready(container.WithReuse(true)) // leaves a warm container
	if err != nil {
		terminate(first)
		return nil, fmt.Errorf("container for reuse: %w", err)
	}
	defer terminate(first)
	warm, second, err := ready(container.WithReuse(true))
	if err != nil {
		return nil, fmt.Errorf("container warm attach: %w", err)
	}
	if !second.Reused {
		return nil, fmt.Errorf("container warm attach: the warm container was not reused")
	}
	rep.ContainerWarmMS = ms(warm)
	rep.Results = append(rep.Results, Result{Strategy: "container-cold", ReadyMS: rep.ContainerColdMS, Interpreters: 1, Forked: int64(cfg.Workers)},
		Result{Strategy: "container-warm", ReadyMS: rep.ContainerWarmMS, Interpreters: 0, Forked: int64(cfg.Workers)})

	if cfg.Pings > 0 {
		p, err := second.StartPool(ctx, realpy.WithSize(1))
		if err != nil {
			return nil, err
		}
		defer p.Close()
		pings, echoes, err := timeRoundTrips(ctx, p, hostPython, cfg.Pings)
		if err != nil {
			return nil, err
		}
		rep.PingP50US, rep.PingP99US = us(Percentile(pings, 50)), us(Percentile(pings, 99))
		rep.RawEchoP50US, rep.RawEchoP99US = us(Percentile(echoes, 50)), us(Percentile(echoes, 99))
		rep.PingOverRawP50 = rep.PingP50US / rep.RawEchoP50US
	}
	return rep, nil
}

func terminate(c *container.Container) {
	if c != nil && c.DockerContainer != nil {
		_ = testcontainers.TerminateContainer(c.DockerContainer)
	}
}
