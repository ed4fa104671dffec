package main

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
)

// baseImageScript is the recipe, embedded so that it runs from any module
// (pyharness's own ci/base-image runs this command).
//
//go:embed base-image.sh
var baseImageScript string

// baseImageHowTo is what doctor and errors tell a user without a base image:
// a command that works from any module that requires pyharness.
const baseImageHowTo = "export PYHARNESS_BASE_IMAGE=$(go run github.com/pyharness/pyharness/cmd/pyharness base-image)"

var baseImageCommand = &command{
	name:    "base-image",
	summary: "build a Python base image from this machine's Debian packages; print its name",
	doc: `Base-image builds a Python base image for the container backend from the
machine's own Debian apt sources (mmdebstrap, then docker import), for
machines that cannot pull python:3.12-slim from a registry, and prints its
name on stdout; it does nothing but print the name when the image is
already present. It needs Docker and a Debian or Ubuntu host (mmdebstrap is
installed with apt-get when missing). Use it as the worker image's base:

  ` + baseImageHowTo + `

$PYHARNESS_BASE_IMAGE, when set, names the image to build.
$PYHARNESS_BASE_PACKAGES (Debian packages, space- or comma-separated) adds
packages to it, host-side, for engines whose docker builds cannot reach
the mirror (where they can, container.WithPackages is the way); the tag
then ends with a hash of the sorted list: use the printed name with
container.WithImage.`,
	maxArgs: 0,
	setup: func(fs *flag.FlagSet) func(context.Context, []string, io.Writer, io.Writer) int {
		print := fs.Bool("print", false, "print the recipe (a bash script) instead of running it")
		return func(ctx context.Context, _ []string, stdout, stderr io.Writer) int {
			if *print {
				fmt.Fprint(stdout, baseImageScript)
				return 0
			}
			cmd := exec.CommandContext(ctx, "bash", "-c", baseImageScript, "pyharness base-image")
			cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
			if err := cmd.Run(); err != nil {
				fmt.Fprintln(stderr, "pyharness base-image:", err)
				return 1
			}
			return 0
		}
	},
}
