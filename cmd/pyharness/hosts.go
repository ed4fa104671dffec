package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/pyharness/pyharness/realpy"
)

// hosts lists the warm pool hosts kept between runs (PYHARNESS_REUSE=1).
func hosts(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hosts", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print one JSON array")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	list, err := realpy.Hosts(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "pyharness hosts:", err)
		return 1
	}
	if *asJSON {
		_ = json.NewEncoder(stdout).Encode(list)
		return 0
	}
	if len(list) == 0 {
		fmt.Fprintln(stdout, "no warm hosts")
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tPID\tSTATE\tAGE\tIDLE\tRSS\tMODULES\tPRELOAD")
	for _, h := range list {
		state := "running"
		if !h.Alive {
			state = "gone"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%v\t%v\t%d MiB\t%s\t%s\n", filepath.Base(h.Dir), h.Pid, state, h.Age, h.Idle, h.RSSKiB/1024,
			strings.Join(h.Modules, ","), strings.Join(h.Preload, ","))
	}
	_ = tw.Flush()
	return 0
}

// stop stops the warm hosts (all, or those whose key starts with the argument).
func stopHosts(args []string, stdout, stderr io.Writer) int {
	prefix := ""
	if len(args) > 1 {
		fmt.Fprintln(stderr, "usage: pyharness stop [KEY]")
		return 2
	}
	if len(args) == 1 {
		prefix = args[0]
	}
	stopped, err := realpy.StopHosts(prefix)
	if err != nil {
		fmt.Fprintln(stderr, "pyharness stop:", err)
		return 1
	}
	for _, dir := range stopped {
		fmt.Fprintln(stdout, "stopped", filepath.Base(dir))
	}
	if len(stopped) == 0 {
		fmt.Fprintln(stdout, "no warm hosts to stop")
	}
	return 0
}
