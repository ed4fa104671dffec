package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/moby/moby/client"

	"github.com/pyharness/pyharness/realpy"
	"github.com/pyharness/pyharness/realpy/container"
)

// doctor checks what pyharness needs and prints a fix for each failure. It
// exits non-zero when something required is missing: Python and the worker
// always, Docker and the images when PYHARNESS_BACKEND=container.
func doctor(ctx context.Context, stdout io.Writer) int {
	d := &report{w: stdout}
	fmt.Fprintln(stdout, "pyharness doctor")
	needDocker := os.Getenv("PYHARNESS_BACKEND") == "container"

	// Python.
	shim, _ := exec.LookPath(firstNonEmpty(os.Getenv(realpy.EnvPython), "python3"))
	python, err := realpy.FindPython(context.Background(), "")
	if err != nil {
		d.fail("python", err.Error(), "install Python >= 3.9 (apt-get install python3) or set PYHARNESS_PYTHON to an interpreter")
		return d.exit()
	}
	version, _ := exec.CommandContext(ctx, python, "-c", "import platform; print(platform.python_version())").Output()
	detail := fmt.Sprintf("%s (%s)", python, strings.TrimSpace(string(version)))
	if shim != "" && shim != python {
		detail += ", resolved once from the shim " + shim
	}
	d.ok("python", detail)

	// The worker, spawned, and a fork from a zygote.
	start := time.Now()
	w, err := realpy.Start(ctx)
	if err != nil {
		d.fail("worker", err.Error(), "check that the interpreter runs `python3 -m pyharness_worker` (PYHARNESS_CACHE_DIR must be writable)")
		return d.exit()
	}
	d.ok("worker", fmt.Sprintf("spawned, answered ping in %v (pid %d, python %s)", time.Since(start).Round(time.Millisecond), w.Pid(), w.Hello().Python))
	_ = w.Close()
	start = time.Now()
	p, err := realpy.StartPool(ctx, realpy.WithSize(1), realpy.WithStrategy(realpy.ZygoteFork))
	if err != nil {
		d.fail("zygote", err.Error(), "the fork server needs Linux and fork-safe modules; use the spawn strategy otherwise")
	} else {
		err := p.Call(ctx, "ping", nil, nil)
		if err != nil {
			d.fail("zygote", err.Error(), "see the worker's stderr above")
		} else {
			d.ok("zygote", fmt.Sprintf("started, forked a worker and answered ping in %v", time.Since(start).Round(time.Millisecond)))
		}
	}
	if p != nil {
		_ = p.Close()
	}

	// Docker and the container backend.
	check := d.warn
	if needDocker {
		check = d.fail
	}
	cli, err := container.Client(ctx)
	if err != nil {
		check("docker", err.Error(), "start Docker, or keep PYHARNESS_BACKEND=process (the default)")
		return d.exit()
	}
	version2, err := cli.ServerVersion(ctx, client.ServerVersionOptions{})
	cli.Close()
	if err != nil {
		check("docker", err.Error(), "start Docker")
		return d.exit()
	}
	d.ok("docker", "server "+version2.Version)

	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "true" {
		d.info("ryuk", "disabled (TESTCONTAINERS_RYUK_DISABLED=true): pyharness removes its containers by label, and the next run removes those of runs killed outright")
	} else {
		d.info("ryuk", "enabled: testcontainers pulls and runs it; without a registry set TESTCONTAINERS_RYUK_DISABLED=true")
	}

	base := container.BaseImage()
	present, _ := container.ImagePresent(ctx, base)
	if !present {
		check("base image", base+" is not present", "pull it (docker pull "+base+"), or build one from Debian's packages: export PYHARNESS_BASE_IMAGE=$(ci/base-image)")
		return d.exit()
	}
	d.ok("base image", base+" present")
	image, _ := container.ImageFor(base)
	if present, _ := container.ImagePresent(ctx, image); present {
		d.ok("worker image", image+" present")
	} else {
		d.info("worker image", image+" not built yet: the first container run builds it (a few seconds)")
	}

	start = time.Now()
	c, err := container.Run(ctx)
	if err == nil {
		var pool *realpy.Pool
		pool, err = c.StartPool(ctx, realpy.WithSize(1))
		if err == nil {
			err = pool.Call(ctx, "ping", nil, nil)
			_ = pool.Close()
		}
	}
	if cerr := c.Close(ctx); err == nil {
		err = cerr
	}
	if err != nil {
		check("container", err.Error(), "see above; PYHARNESS_BACKEND=process works without Docker")
	} else {
		d.ok("container", fmt.Sprintf("started a container, forked a worker and answered ping in %v", time.Since(start).Round(time.Millisecond)))
	}
	return d.exit()
}

type report struct {
	w      io.Writer
	failed bool
}

func (r *report) ok(what, detail string)   { fmt.Fprintf(r.w, "  ok    %-13s %s\n", what, detail) }
func (r *report) info(what, detail string) { fmt.Fprintf(r.w, "  info  %-13s %s\n", what, detail) }
func (r *report) warn(what, detail, fix string) {
	fmt.Fprintf(r.w, "  warn  %-13s %s\n        fix: %s\n", what, detail, fix)
}
func (r *report) fail(what, detail, fix string) {
	r.failed = true
	fmt.Fprintf(r.w, "  FAIL  %-13s %s\n        fix: %s\n", what, detail, fix)
}

func (r *report) exit() int {
	if r.failed {
		fmt.Fprintln(r.w, "something required is missing (see FAIL above)")
		return 1
	}
	fmt.Fprintln(r.w, "all required checks passed")
	return 0
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}
