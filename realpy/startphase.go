package realpy

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// envStartPhase names the file a spawned interpreter appends its start's
// phases to (python/pyharness_worker/phase.py): how a start that times out
// says where it was.
const envStartPhase = "PYHARNESS_START_PHASE"

// Start phases, as the worker writes them.
const (
	phaseWorkerImport   = "worker import"
	phaseHandlersImport = "handlers import: "
	phasePreloadImport  = "preload import: "
	phaseReady          = "ready"
)

// endStart removes the phase file: the start is over, either way.
func (p *spawnedProcess) endStart() {
	if p.phaseDir != "" {
		_ = os.RemoveAll(p.phaseDir)
	}
}

// startPhase returns the last phase the interpreter wrote ("" for none).
func (p *spawnedProcess) startPhase() string {
	if p.phaseDir == "" {
		return ""
	}
	b, _ := os.ReadFile(filepath.Join(p.phaseDir, "phase"))
	lines := tail(b, 1)
	if len(lines) == 0 {
		return ""
	}
	return lines[0]
}

// phaseText says where a start that timed out was: which module it was
// importing, or that the interpreter never reached the worker.
func (p *spawnedProcess) phaseText() string {
	phase := p.startPhase()
	switch {
	case phase == phaseReady:
		return "it was in phase ready: the worker had imported everything and did not answer the ping"
	case strings.HasPrefix(phase, phaseHandlersImport):
		return fmt.Sprintf("it was in phase handlers import, importing the handler module %q (WithModules): its top level hangs", strings.TrimPrefix(phase, phaseHandlersImport))
	case strings.HasPrefix(phase, phasePreloadImport):
		return fmt.Sprintf("it was in phase preload import, importing the preload module %q (WithPreload): its top level hangs", strings.TrimPrefix(phase, phasePreloadImport))
	case phase == phaseWorkerImport:
		return "it was in phase worker import, importing the pyharness_worker package: a module on PYTHONPATH may shadow one of the standard library's"
	case phase != "":
		return "it was in phase " + phase
	}
	if exe, ok := p.runs(); !ok {
		return fmt.Sprintf("it was in phase interpreter not started: the process runs %s, not the interpreter (a wrapper that has not started it?)", exe)
	}
	text := "it was in phase site import: the interpreter started but never reached the worker; its own start-up hangs (site: sitecustomize, usercustomize, .pth files)"
	if found := p.siteHooks(); len(found) > 0 {
		text += "; on its PYTHONPATH: " + strings.Join(found, ", ")
	}
	return text
}

// noteStart records what the process runs (its /proc/<pid>/exe) when its
// start failed, before it is stopped.
func (p *spawnedProcess) noteStart() {
	if exe, err := os.Readlink("/proc/" + strconv.Itoa(p.id) + "/exe"); err == nil {
		p.exe = strings.TrimSuffix(exe, " (deleted)")
	}
}

// runs reports whether the process ran the interpreter it was started
// with when its start failed, and what it ran.
func (p *spawnedProcess) runs() (string, bool) {
	exe := p.exe
	if exe == "" {
		return "", true // gone, or not ours to read: nothing to say
	}
	want, err := filepath.EvalSymlinks(p.python)
	if err != nil || exe == want || strings.Contains(filepath.Base(exe), "python") {
		return exe, true
	}
	return exe, false // a wrapper script (its shell) that has not started the interpreter yet
}

// siteHooks lists the sitecustomize and usercustomize modules on the
// interpreter's PYTHONPATH: the code site runs before the worker.
func (p *spawnedProcess) siteHooks() []string {
	var found []string
	for _, dir := range p.path {
		for _, name := range []string{"sitecustomize", "usercustomize"} {
			for _, file := range []string{name + ".py", filepath.Join(name, "__init__.py")} {
				if st, err := os.Stat(filepath.Join(dir, file)); err == nil && st.Mode().IsRegular() {
					found = append(found, filepath.Join(dir, file))
				}
			}
		}
	}
	return found
}

// pythonPathOf returns the directories of the PYTHONPATH entry of env.
func pythonPathOf(env []string) []string {
	var dirs []string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PYTHONPATH="); ok {
			dirs = filepath.SplitList(v)
		}
	}
	return dirs
}

// notingContext is a context whose end is seen only once note has run: a
// start's readiness ping ends (and kills the process) after what the
// process runs was read.
type notingContext struct {
	context.Context
	done chan struct{}
}

// noting returns ctx seen through note; stop releases it.
func noting(ctx context.Context, note func()) (context.Context, func() bool) {
	c := &notingContext{Context: ctx, done: make(chan struct{})}
	stop := context.AfterFunc(ctx, func() {
		note()
		close(c.done)
	})
	return c, stop
}

func (c *notingContext) Done() <-chan struct{} { return c.done }

func (c *notingContext) Err() error {
	select {
	case <-c.done:
		return c.Context.Err()
	default:
		return nil
	}
}
