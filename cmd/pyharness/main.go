// Command pyharness is the pyharness command line: `pyharness doctor`
// checks the machine (Python, the worker, Docker, images, a live ping through
// each backend) or, with --module, the user's own handler modules (import
// time, threads, native libraries that do not survive fork); `pyharness
// bench` runs interpreter start-up strategies side by side and measures
// round trips; `pyharness hosts` and `pyharness stop` list and stop the warm
// pool hosts kept between runs; `pyharness base-image` builds a Python base
// image from the machine's Debian packages. `pyharness help COMMAND` and
// `pyharness COMMAND -h` describe each.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// command is one subcommand: its flags are defined on a FlagSet by setup,
// which returns what runs once they are parsed.
type command struct {
	name    string
	args    string // after the flags in the usage line, e.g. "[KEY ...]"
	summary string // one line, for `pyharness help`
	doc     string // paragraphs, for `pyharness help NAME`
	setup   func(fs *flag.FlagSet) func(ctx context.Context, args []string, stdout, stderr io.Writer) int
	// maxArgs bounds the positional arguments (-1: any number).
	maxArgs int
}

var commands []*command

func init() {
	commands = []*command{doctorCommand, benchCommand, hostsCommand, stopCommand, baseImageCommand}
}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// usage is `pyharness help`.
func usage(w io.Writer) {
	fmt.Fprint(w, "pyharness checks a machine for pyharness, measures it, and manages warm pool hosts.\n\n")
	fmt.Fprint(w, "usage: pyharness <command> [flags] [arguments]\n\ncommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\n`pyharness help <command>` or `pyharness <command> -h` describes a command and its flags.\n")
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run is the command line: exit 0 on success, 1 when a command fails, 2 on a
// usage error (the usage goes to stderr, as Go's own tools do). Help that
// was asked for (help, -h, --help) goes to stdout, with exit 0.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch name := args[0]; name {
	case "help", "-h", "-help", "--help":
		if name != "help" || len(args) == 1 {
			usage(stdout)
			return 0
		}
		if len(args) > 2 {
			fmt.Fprintf(stderr, "pyharness help: one command at a time, got %q\n", strings.Join(args[1:], " "))
			return 2
		}
		c := lookup(args[1])
		if c == nil {
			fmt.Fprintf(stderr, "pyharness help: unknown command %q\n\n", args[1])
			usage(stderr)
			return 2
		}
		return c.usage(stdout)
	}
	if strings.HasPrefix(args[0], "-") {
		fmt.Fprintf(stderr, "pyharness: flag %s before a command: flags follow the command (pyharness <command> [flags])\n\n", args[0])
		usage(stderr)
		return 2
	}
	c := lookup(args[0])
	if c == nil {
		fmt.Fprintf(stderr, "pyharness: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	return c.run(ctx, args[1:], stdout, stderr)
}

// flags returns the command's FlagSet; its errors go to w, and the usage
// is written by run (to stdout for -h, to stderr after an error).
func (c *command) flags(w io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("pyharness "+c.name, flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() {}
	return fs
}

// writeUsage writes the usage line and the flags, and with full the
// command's description; else where to find it, as Go's tools do.
func (c *command) writeUsage(w io.Writer, fs *flag.FlagSet, full bool) {
	line := "usage: pyharness " + c.name
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		line += " [flags]"
	}
	if c.args != "" {
		line += " " + c.args
	}
	fmt.Fprintln(w, line)
	if full {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(c.doc))
	}
	if hasFlags {
		fmt.Fprint(w, "\nflags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
	if !full {
		fmt.Fprintf(w, "\nRun 'pyharness help %s' for details.\n", c.name)
	}
}

// usage writes the command's full usage to w, and returns 0.
func (c *command) usage(w io.Writer) int {
	fs := c.flags(w)
	c.setup(fs)
	c.writeUsage(w, fs, true)
	return 0
}

func (c *command) run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := c.flags(stderr)
	do := c.setup(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c.usage(stdout)
		}
		// The flag package printed the error ("flag provided but not defined: -x").
		c.writeUsage(stderr, fs, false)
		return 2
	}
	for _, a := range fs.Args() {
		if strings.HasPrefix(a, "-") && a != "-" {
			fmt.Fprintf(stderr, "pyharness %s: flag %s after an argument: flags come before the arguments\n", c.name, a)
			c.writeUsage(stderr, fs, false)
			return 2
		}
	}
	if c.maxArgs >= 0 && fs.NArg() > c.maxArgs {
		extra := fs.Args()[c.maxArgs:]
		fmt.Fprintf(stderr, "pyharness %s: unexpected argument %q\n", c.name, strings.Join(extra, " "))
		c.writeUsage(stderr, fs, false)
		return 2
	}
	return do(ctx, fs.Args(), stdout, stderr)
}
