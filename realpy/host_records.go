// Host: host records on disk, finding, listing and stopping warm hosts.

package realpy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pyharness/pyharness/internal/proc"
	"github.com/pyharness/pyharness/internal/realpyx"
	"github.com/pyharness/pyharness/internal/workersrc"
)

// writeRecord writes a host's record whole or not at all (a temporary file
// renamed over it): orphan reaping, Hosts and other runs read it without
// the host lock, and must never see half of it.
func writeRecord(path string, raw []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

func readHostRecord(dir string) (hostRecord, error) {
	var rec hostRecord
	raw, err := os.ReadFile(filepath.Join(dir, "host.json"))
	if err != nil {
		return rec, err
	}
	return rec, json.Unmarshal(raw, &rec)
}

// hostAlive reports whether pid is a running host with key (a session
// leader: its forks share its environment, not its session).
func hostAlive(pid int, key string) bool {
	st, ok := proc.ReadStat(pid)
	if !ok || st.Dead() || st.Session != pid {
		return false
	}
	got, _ := proc.Getenv(proc.Environ(pid), envHostKey)
	return got == key
}

// findHost returns the pid of the live host of dir, found by its
// environment (envHostDir): a session leader of this user. It is how a host
// whose record cannot be read is found. 0: none.
func findHost(dir string) int {
	pids, err := proc.Pids()
	if err != nil {
		return 0
	}
	for _, pid := range pids {
		st, ok := proc.ReadStat(pid)
		if !ok || st.Dead() || st.Session != pid {
			continue
		}
		if fi, err := os.Stat("/proc/" + strconv.Itoa(pid)); err != nil || int(fi.Sys().(*syscall.Stat_t).Uid) != os.Getuid() {
			continue
		}
		if got, _ := proc.Getenv(proc.Environ(pid), envHostDir); got == dir {
			return pid
		}
	}
	return 0
}

// stopHost kills the host recorded in dir (and its forks) and removes its
// record. A host whose record cannot be read is found by its environment.
func stopHost(dir string) error {
	pid := 0
	if rec, err := readHostRecord(dir); err == nil {
		if hostAlive(rec.Pid, rec.Key) {
			pid = rec.Pid
		}
	} else if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else {
		pid = findHost(dir)
	}
	if pid > 0 {
		_ = syscall.Kill(-pid, syscall.SIGKILL) // its process group: the zygote and the forks it made
		waitGone(pid, 5*time.Second)
	}
	_ = os.Remove(filepath.Join(dir, "host.json"))
	_ = os.Remove(filepath.Join(dir, "zygote.sock"))
	return nil
}

// lockDir takes an exclusive lock on dir/lock, waiting (bounded by ctx) for
// another process that holds it.
func lockDir(ctx context.Context, dir string) (func(), error) {
	unlock, err := proc.LockFile(ctx, filepath.Join(dir, "lock"))
	switch {
	case err == nil:
		return unlock, nil
	case ctx.Err() != nil:
		return nil, fmt.Errorf("realpy: waiting for the host lock in %s: %w", dir, ctx.Err())
	default:
		return nil, fmt.Errorf("realpy: host lock: %w", err)
	}
}

// hosts lists the warm hosts of this user (realpyx.Hosts).
func hosts(ctx context.Context) ([]realpyx.HostInfo, error) {
	root, err := workersrc.CacheDir()
	if err != nil {
		return nil, err
	}
	dirs, _ := filepath.Glob(filepath.Join(root, "hosts", "*"))
	var out []realpyx.HostInfo
	for _, dir := range dirs {
		rec, err := readHostRecord(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			info := realpyx.HostInfo{Dir: dir, Pid: findHost(dir), Record: err.Error()}
			if info.Pid > 0 {
				info.Alive, info.RSSKiB = true, proc.RSSKiB(info.Pid)
			}
			out = append(out, info)
			continue
		}
		info := realpyx.HostInfo{Dir: dir, Pid: rec.Pid, Alive: hostAlive(rec.Pid, rec.Key), Age: time.Since(rec.Started).Round(time.Second),
			Modules: rec.Modules, Preload: rec.Preload, RSSKiB: proc.RSSKiB(rec.Pid)}
		if info.Alive {
			c, cancel := context.WithTimeout(ctx, hostTimeout)
			z, err := attachZygoteWith(c, "unix:"+filepath.Join(dir, "zygote.sock")+"#"+rec.Secret)
			if err == nil {
				var st struct{ Idle float64 }
				if z.Info(c, &st) == nil {
					info.Idle = time.Duration(st.Idle * float64(time.Second)).Round(time.Second)
				}
				_ = z.Close()
			}
			cancel()
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b realpyx.HostInfo) int { return strings.Compare(a.Dir, b.Dir) })
	return out, nil
}

// stopHosts stops the warm hosts whose directory name starts with prefix
// (all of them for ""), and returns the directories it stopped (realpyx.StopHosts).
func stopHosts(prefix string) ([]string, error) {
	root, err := workersrc.CacheDir()
	if err != nil {
		return nil, err
	}
	dirs, _ := filepath.Glob(filepath.Join(root, "hosts", "*"))
	var stopped []string
	for _, dir := range dirs {
		if !strings.HasPrefix(filepath.Base(dir), prefix) {
			continue
		}
		if _, err := readHostRecord(dir); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := stopHost(dir); err != nil {
			return stopped, err
		}
		stopped = append(stopped, dir)
	}
	return stopped, nil
}
