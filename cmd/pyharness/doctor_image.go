package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/testcontainers/testcontainers-go"

	"github.com/pyharness/pyharness/realpy/container"
)

// imageFlags are doctor's --package, --dockerfile and --image: the image a
// suite's container options ask for.
type imageFlags struct {
	packages   listFlag
	dockerfile string
	image      string
}

func (f imageFlags) given() bool { return len(f.packages) > 0 || f.dockerfile != "" || f.image != "" }

// options returns the container options the flags stand for, and the Go
// that says the same in a suite.
func (f imageFlags) options() ([]container.Option, string) {
	var opts []container.Option
	var code []string
	if f.image != "" {
		opts = append(opts, container.WithImage(f.image))
		code = append(code, "container.WithImage("+strconv.Quote(f.image)+")")
	}
	if f.dockerfile != "" {
		opts = append(opts, container.WithDockerfile(f.dockerfile))
		code = append(code, "container.WithDockerfile("+strconv.Quote(f.dockerfile)+")")
	}
	if len(f.packages) > 0 {
		opts = append(opts, container.WithPackages(f.packages...))
		quoted := make([]string, len(f.packages))
		for i, p := range f.packages {
			quoted[i] = strconv.Quote(p)
		}
		code = append(code, "container.WithPackages("+strings.Join(quoted, ", ")+")")
	}
	return opts, "var _ = containerbackend.Configure(" + strings.Join(code, ", ") + ")"
}

// checkImage builds or finds the image the flags ask for and reports it;
// without flags it says how to ask. It returns the options for the
// container check, and false when that check cannot run.
func checkImage(ctx context.Context, d *report, check func(what, detail, fix string), f imageFlags) ([]testcontainers.ContainerCustomizer, bool) {
	if !f.given() {
		d.info("your packages", "pyharness doctor --package python3-sklearn (or --dockerfile dir, --image ref) builds and checks the image a suite gets from "+
			`containerbackend.Configure(container.WithPackages("python3-sklearn")) on PYHARNESS_BACKEND=container`)
		return nil, true
	}
	opts, code := f.options()
	start := time.Now()
	img, err := container.BuildImage(ctx, opts...)
	if err != nil {
		var pe *container.PackageError
		var be *container.BuildError
		switch {
		case errors.As(err, &pe):
			check("image", err.Error(), "check the names with `apt-cache policy NAME` on the image's Debian release, or drop them")
		case errors.As(err, &be):
			check("image", err.Error(), "fix the build (its log ends above); with WithPackages the image needs apt-get and a reachable Debian mirror")
		default:
			check("image", err.Error(), "see above")
		}
		return nil, false
	}
	verb := "found by its content tag, not rebuilt"
	if img.Built() {
		verb = fmt.Sprintf("built in %v", time.Since(start).Round(time.Millisecond))
	}
	d.ok("image", img.Ref+" "+verb+": "+img.String())
	d.info("in a suite", code+" (import github.com/pyharness/pyharness/harness/containerbackend and .../realpy/container)")
	customizers := make([]testcontainers.ContainerCustomizer, len(opts))
	for i, o := range opts {
		customizers[i] = o
	}
	return customizers, true
}
