package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/pyharness/pyharness/internal/proc"
	"github.com/pyharness/pyharness/internal/realpyx"
	"github.com/pyharness/pyharness/internal/workersrc"
)

// envHostDir is in the environment of every warm host (realpy's host.go):
// the directory of its record, <cache dir>/hosts/<key>.
const envHostDir = "PYHARNESS_HOST_DIR"

const scopeDoc = `Without --all it sees the cache directory of this run alone:
$PYHARNESS_CACHE_DIR, or else the user cache directory (%s).
With --all it sees every cache directory where a warm host of this user
runs, as well. Hosts of other users are never stopped, even by root: stop
them as that user.`

var hostsCommand = &command{
	name:    "hosts",
	summary: "list the warm pool hosts kept between runs (PYHARNESS_REUSE=1): owner, dir, PSS, idle",
	doc: `Hosts lists the warm pool hosts that runs with PYHARNESS_REUSE=1 (or
realpy.StartHost) keep between runs: key, pid, owner, state, how long it has
been idle and alive, its proportional memory (PSS: shared pages counted once
across the host and its forks), its handler modules and its directory.

` + fmt.Sprintf(scopeDoc, defaultCacheDir()),
	maxArgs: 0,
	setup: func(fs *flag.FlagSet) func(context.Context, []string, io.Writer, io.Writer) int {
		asJSON := fs.Bool("json", false, "print one JSON array")
		all := fs.Bool("all", false, "every cache directory where a warm host of this user runs, not only this run's")
		return func(ctx context.Context, _ []string, stdout, stderr io.Writer) int {
			roots, err := cacheDirs(*all)
			if err != nil {
				fmt.Fprintln(stderr, "pyharness hosts:", err)
				return 1
			}
			list, err := listHosts(ctx, roots)
			if err != nil {
				fmt.Fprintln(stderr, "pyharness hosts:", err)
				return 1
			}
			if *asJSON {
				if list == nil {
					list = []hostRow{}
				}
				_ = json.NewEncoder(stdout).Encode(list)
				return 0
			}
			if len(list) == 0 {
				fmt.Fprintf(stdout, "no warm hosts in %s\n", strings.Join(roots, ", "))
				return 0
			}
			tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KEY\tPID\tOWNER\tSTATE\tIDLE\tAGE\tPSS\tMODULES\tDIR")
			for _, h := range list {
				state, idle, pss := "running", h.Idle.String(), mib(h.PSSKiB)
				age := h.Age.String()
				if !h.Alive {
					state, idle, pss = "gone", "-", "-"
				}
				if h.Record != "" { // unknown without the record
					idle, age = "-", "-"
				}
				modules := strings.Join(h.Modules, ",")
				if len(h.Preload) > 0 {
					modules += " (preload " + strings.Join(h.Preload, ",") + ")"
				}
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", filepath.Base(h.Dir), h.Pid, h.Owner, state, idle, age, pss,
					firstNonEmpty(modules, "-"), h.Dir)
			}
			_ = tw.Flush()
			for _, h := range list {
				if h.Record != "" {
					fmt.Fprintf(stdout, "the record of %s cannot be read (%s): found by its process's environment; pyharness stop stops it\n",
						filepath.Base(h.Dir), h.Record)
				}
			}
			return 0
		}
	},
}

var stopCommand = &command{
	name:    "stop",
	args:    "[KEY ...]",
	summary: "stop your warm pool hosts in this cache dir (--all: in every cache dir)",
	doc: `Stop stops warm pool hosts of this user: all of them, or those whose key
(the KEY column of pyharness hosts) starts with one of the KEYs given. A run
that needs one starts it again.

` + fmt.Sprintf(scopeDoc, defaultCacheDir()),
	maxArgs: -1,
	setup: func(fs *flag.FlagSet) func(context.Context, []string, io.Writer, io.Writer) int {
		all := fs.Bool("all", false, "every cache directory where a warm host of this user runs, not only this run's")
		return func(ctx context.Context, keys []string, stdout, stderr io.Writer) int {
			return stopHosts(ctx, *all, keys, stdout, stderr)
		}
	},
}

func stopHosts(ctx context.Context, all bool, keys []string, stdout, stderr io.Writer) int {
	roots, err := cacheDirs(all)
	if err != nil {
		fmt.Fprintln(stderr, "pyharness stop:", err)
		return 1
	}
	list, err := listHosts(ctx, roots)
	if err != nil {
		fmt.Fprintln(stderr, "pyharness stop:", err)
		return 1
	}
	me := os.Getuid()
	matched := map[string]bool{}
	stopped := 0
	for _, h := range list {
		key := filepath.Base(h.Dir)
		if len(keys) > 0 && !slices.ContainsFunc(keys, func(k string) bool {
			if strings.HasPrefix(key, k) {
				matched[k] = true
				return true
			}
			return false
		}) {
			continue
		}
		if h.UID != me {
			fmt.Fprintf(stdout, "left alone %s (pid %d, owner %s): pyharness stop stops only your own hosts\n", key, h.Pid, h.Owner)
			continue
		}
		var done []string
		err := inCacheDir(h.CacheDir, func() (err error) {
			done, err = realpyx.StopHosts(key) // the whole key: this host alone
			return err
		})
		if err != nil {
			fmt.Fprintf(stderr, "pyharness stop: %s: %v\n", h.Dir, err)
			return 1
		}
		if len(done) > 0 {
			stopped++
			if h.Alive {
				fmt.Fprintf(stdout, "stopped %s (pid %d) in %s\n", key, h.Pid, h.CacheDir)
			} else {
				fmt.Fprintf(stdout, "removed the record of %s (pid %d, gone) in %s\n", key, h.Pid, h.CacheDir)
			}
		}
	}
	for _, k := range keys {
		if !matched[k] {
			fmt.Fprintf(stderr, "pyharness stop: no warm host's key starts with %q in %s\n", k, strings.Join(roots, ", "))
			return 1
		}
	}
	if stopped == 0 && len(keys) == 0 {
		fmt.Fprintf(stdout, "no warm hosts of yours to stop in %s\n", strings.Join(roots, ", "))
	}
	return 0
}

// hostRow is a warm host as hosts and stop see it.
type hostRow struct {
	realpyx.HostInfo
	CacheDir string `json:"cache_dir"`
	UID      int    `json:"uid"`
	Owner    string `json:"owner"`
	PSSKiB   int64  `json:"pss_kib"`
}

// defaultCacheDir is the cache directory of a run without $PYHARNESS_CACHE_DIR.
func defaultCacheDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "pyharness")
}

// cacheDirs returns this run's cache directory and, with all, every cache
// directory where a warm host of this user runs.
func cacheDirs(all bool) ([]string, error) {
	root, err := workersrc.CacheDir()
	if err != nil {
		return nil, err
	}
	roots := []string{filepath.Clean(root)}
	if !all {
		return roots, nil
	}
	pids, err := proc.Pids()
	if err != nil {
		return nil, err
	}
	me := os.Getuid()
	for _, pid := range pids {
		if uid, ok := processUID(pid); !ok || uid != me {
			continue
		}
		if st, ok := proc.ReadStat(pid); !ok || st.Dead() || st.Session != pid {
			continue // a host leads its session; its forks share its environment, not its session
		}
		dir, ok := proc.Getenv(proc.Environ(pid), envHostDir)
		if !ok || dir == "" {
			continue
		}
		if r := filepath.Dir(filepath.Dir(dir)); !slices.Contains(roots, r) {
			roots = append(roots, r)
		}
	}
	slices.Sort(roots[1:])
	return roots, nil
}

// listHosts lists the warm hosts recorded in each cache directory of roots.
func listHosts(ctx context.Context, roots []string) ([]hostRow, error) {
	var rows []hostRow
	for _, root := range roots {
		var infos []realpyx.HostInfo
		err := inCacheDir(root, func() (err error) {
			infos, err = realpyx.Hosts(ctx)
			return err
		})
		if err != nil {
			return nil, err
		}
		for _, info := range infos {
			row := hostRow{HostInfo: info, CacheDir: root, UID: -1}
			if info.Alive {
				row.UID, _ = processUID(info.Pid)
				row.PSSKiB = pssKiB(info.Pid)
			} else if st, err := os.Stat(info.Dir); err == nil {
				row.UID = int(st.Sys().(*syscall.Stat_t).Uid)
			}
			row.Owner = userName(row.UID)
			rows = append(rows, row)
		}
	}
	return rows, nil
}

// inCacheDir runs fn with $PYHARNESS_CACHE_DIR set to root (realpy's
// host listing reads the cache directory from there), then restores it.
// The command line runs one command at a time, so nothing else reads it
// meanwhile.
func inCacheDir(root string, fn func() error) error {
	old, had := os.LookupEnv("PYHARNESS_CACHE_DIR")
	if err := os.Setenv("PYHARNESS_CACHE_DIR", root); err != nil {
		return err
	}
	defer func() {
		if had {
			_ = os.Setenv("PYHARNESS_CACHE_DIR", old)
		} else {
			_ = os.Unsetenv("PYHARNESS_CACHE_DIR")
		}
	}()
	return fn()
}

// processUID returns the uid a process runs as (the owner of /proc/<pid>).
func processUID(pid int) (int, bool) {
	st, err := os.Stat("/proc/" + strconv.Itoa(pid))
	if err != nil {
		return -1, false
	}
	return int(st.Sys().(*syscall.Stat_t).Uid), true
}

// pssKiB returns a process's proportional set size in KiB (0 when unknown).
func pssKiB(pid int) int64 {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "Pss:"); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}

func userName(uid int) string {
	if uid < 0 {
		return "?"
	}
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return strconv.Itoa(uid)
}

func mib(kib int64) string {
	if kib <= 0 {
		return "?"
	}
	return fmt.Sprintf("%.1f MiB", float64(kib)/1024)
}
