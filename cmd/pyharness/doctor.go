package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/moby/moby/client"

	"github.com/pyharness/pyharness/internal/realpyx"
	"github.com/pyharness/pyharness/internal/workersrc"
	"github.com/pyharness/pyharness/realpy"
	"github.com/pyharness/pyharness/realpy/container"
)

var doctorCommand = &command{
	name:    "doctor",
	summary: "check Python, the worker, Docker and the images (or, with --module, your modules)",
	doc: `Doctor checks what pyharness needs and prints a fix for each failure:
Python, a spawned worker, a worker forked from a zygote, then Docker, ryuk,
the base and worker images and a live ping through the container backend.
It exits 1 when something required is missing: Python and the worker
always, Docker and the images when PYHARNESS_BACKEND=container.

With --module it checks your modules instead of Docker: it imports each in
a fresh interpreter (with --python-path and the current directory on the
path, as a worker has) and reports the import time, the threads the import
started and the native libraries it loaded that do not survive a fork
(OpenMP runtimes, CUDA, gRPC), which break workers forked from a zygote
(realpy.ZygoteFork, WithPreload, warm hosts); then it forks a worker from a
zygote that preloaded them. An import that fails exits 1; a fork hazard is a
warning (the spawn strategy is safe from it).

With --package (Debian packages, repeatable), --dockerfile or --image it
builds (or finds, by its content tag) the image a suite with those
container options gets, says whether it built it, and pings a worker in a
container of it; it prints the line that says the same in a suite:

  var _ = containerbackend.Configure(container.WithPackages("python3-sklearn"))`,
	maxArgs: 0,
	setup: func(fs *flag.FlagSet) func(context.Context, []string, io.Writer, io.Writer) int {
		var modules moduleFlag
		var pythonPath listFlag
		fs.Var(&modules, "module", "a Python `module` to import and check, such as mypkg.handlers (repeatable)")
		fs.Var(&pythonPath, "python-path", "a `dir` to put on the path for --module, as WithPythonPath does (repeatable)")
		var img imageFlags
		fs.Var(&img.packages, "package", "a Debian `package` the container image must have, such as python3-sklearn (repeatable; container.WithPackages)")
		fs.StringVar(&img.dockerfile, "dockerfile", "", "a `dir` with a Dockerfile to build the container image from (container.WithDockerfile)")
		fs.StringVar(&img.image, "image", "", "your own container `image`, with python3 (container.WithImage)")
		return func(ctx context.Context, _ []string, stdout, _ io.Writer) int {
			return doctor(ctx, stdout, []string(modules), pythonPath, img)
		}
	},
}

// moduleFlag is a repeatable --module: a Python module name, dotted, as
// import takes it. A Go import path or a file path is refused with the form
// that works.
type moduleFlag []string

var moduleName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$`)

func (m *moduleFlag) String() string { return strings.Join(*m, ",") }
func (m *moduleFlag) Set(v string) error {
	if strings.HasSuffix(v, ".py") { // a file (a submodule named py is rarer than this slip)
		dir, file := filepath.Split(v)
		if dir == "" {
			dir = "."
		}
		return fmt.Errorf("%q is a file, not a Python module name: use --module %s --python-path %s",
			v, strings.TrimSuffix(file, ".py"), filepath.Clean(dir))
	}
	if moduleName.MatchString(v) {
		*m = append(*m, v)
		return nil
	}
	return fmt.Errorf("%q is not a Python module name: give the name Python imports, dotted, such as mypkg.handlers "+
		"(with --python-path for the directory it is found in), not a Go import path or a directory", v)
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// doctor checks what pyharness needs and prints a fix for each failure. It
// exits non-zero when something required is missing: Python and the worker
// always, Docker and the images when PYHARNESS_BACKEND=container, and each
// of modules, when given.
func doctor(ctx context.Context, stdout io.Writer, modules, pythonPath []string, img imageFlags) int {
	d := &report{w: stdout}
	fmt.Fprintln(stdout, "pyharness doctor")
	needDocker := os.Getenv("PYHARNESS_BACKEND") == "container" || img.given()

	// Python.
	shim, _ := exec.LookPath(firstNonEmpty(os.Getenv(realpy.EnvPython), "python3"))
	python, err := realpyx.FindPython(context.Background(), "")
	if err != nil {
		d.fail("python", err.Error(), "install Python >= 3.9 (apt-get install python3) or set PYHARNESS_PYTHON to an interpreter")
		return d.exit()
	}
	version, err := exec.CommandContext(ctx, python, "-c", "import platform; print(platform.python_version())").Output()
	if err != nil || len(bytes.TrimSpace(version)) == 0 {
		d.fail("python", fmt.Sprintf("%s does not run as Python (`%s -c 'import platform'`: %v)", python, python, err),
			"install Python >= 3.9 (apt-get install python3) or set PYHARNESS_PYTHON to an interpreter")
		return d.exit()
	}
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
	zygoteOpts := []realpy.Option{realpy.WithSize(1), realpy.WithStrategy(realpy.ZygoteFork)}
	preloaded := ""
	if len(modules) > 0 {
		imported := checkModules(ctx, d, python, modules, pythonPath)
		if len(imported) > 0 {
			zygoteOpts = append(zygoteOpts, realpy.WithPreload(imported...), realpy.WithPythonPath(pythonPath...))
			preloaded = " from a zygote that preloaded " + strings.Join(imported, ", ")
		}
	}
	start = time.Now()
	p, err := realpy.StartPool(ctx, zygoteOpts...)
	if err != nil {
		d.fail("zygote", err.Error(), "the fork server needs Linux and fork-safe modules; use the spawn strategy otherwise")
	} else {
		err := p.Call(ctx, "ping", nil, nil)
		if err != nil {
			d.fail("zygote", err.Error(), "see the worker's stderr above")
		} else {
			d.ok("zygote", fmt.Sprintf("started, forked a worker%s and answered ping in %v", preloaded, time.Since(start).Round(time.Millisecond)))
		}
	}
	if p != nil {
		_ = p.Close()
	}
	if len(modules) > 0 && !needDocker {
		d.info("docker", "not checked with --module (pyharness doctor without it checks Docker and the images; PYHARNESS_BACKEND=container checks both)")
		return d.exit()
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
		check("base image", base+" is not present", baseImageFix(base))
		return d.exit()
	}
	d.ok("base image", base+" present")
	image, _ := container.ImageFor(ctx, base)
	if present, _ := container.ImagePresent(ctx, image); present {
		d.ok("worker image", image+" present")
	} else {
		d.info("worker image", image+" not built yet: the first container run builds it (a few seconds)")
	}

	imageOpts, ok := checkImage(ctx, d, check, img)
	if !ok {
		return d.exit()
	}
	start = time.Now()
	c, err := container.Run(ctx, imageOpts...)
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

// baseImageFix says how to get a missing base image, from any module.
func baseImageFix(base string) string {
	return "pull it (docker pull " + base + "), or build one from this machine's Debian packages: " + baseImageHowTo +
		" (or pyharness base-image, with the command installed)"
}

// moduleReport is what pyharness_worker.doctor_check prints of one module.
type moduleReport struct {
	Module          string  `json:"module"`
	Error           *string `json:"error"`
	AlreadyImported bool    `json:"already_imported"`
	ImportMS        float64 `json:"import_ms"`
	NativeLibraries int     `json:"native_libraries"`
	Libraries       []struct {
		Name     string `json:"name"`
		Path     string `json:"path"`
		ForkSafe bool   `json:"fork_safe"`
		Why      string `json:"why"`
	} `json:"libraries"`
	PythonThreads []string `json:"python_threads"`
	NativeThreads []struct {
		Tid  int    `json:"tid"`
		Name string `json:"name"`
	} `json:"native_threads"`
}

// checkModules imports modules in a fresh interpreter (doctor_check),
// reports on each, and returns those that imported.
func checkModules(ctx context.Context, d *report, python string, modules, pythonPath []string) []string {
	source, err := workersrc.Dir()
	if err != nil {
		d.fail("module", err.Error(), "PYHARNESS_CACHE_DIR must be writable")
		return nil
	}
	path := []string{source}
	for _, dir := range pythonPath {
		abs, err := filepath.Abs(dir)
		if err != nil {
			d.fail("module", err.Error(), "check --python-path")
			return nil
		}
		path = append(path, abs)
	}
	if inherited := os.Getenv("PYTHONPATH"); inherited != "" {
		path = append(path, inherited)
	}
	cmd := exec.CommandContext(ctx, python, append([]string{"-m", "pyharness_worker.doctor_check"}, modules...)...)
	cmd.Env = append(os.Environ(), "PYTHONPATH="+strings.Join(path, string(os.PathListSeparator)))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var out struct {
		Modules []moduleReport `json:"modules"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil || len(out.Modules) != len(modules) {
		d.fail("module", fmt.Sprintf("%s -m pyharness_worker.doctor_check %s: %v%s", python, strings.Join(modules, " "), runErr, stderrTail(stderr.Bytes())),
			"see the interpreter's output above")
		return nil
	}
	var imported []string
	for _, m := range out.Modules {
		if m.Error != nil {
			d.failWith("module", m.Module+": the import failed", strings.TrimRight(*m.Error, "\n"),
				"make `"+python+" -c 'import "+m.Module+"'` work from this directory (--python-path adds directories, as WithPythonPath does)")
			continue
		}
		imported = append(imported, m.Module)
		detail := fmt.Sprintf("%s imported in %v, %d native librar%s loaded", m.Module,
			time.Duration(m.ImportMS*float64(time.Millisecond)).Round(time.Microsecond*100), m.NativeLibraries, plural(m.NativeLibraries, "y", "ies"))
		if m.AlreadyImported {
			detail = m.Module + " was imported before the check began (by the interpreter's start-up or the check itself): no import time to measure"
		}
		d.ok("module", detail)
		hazard := false
		for _, lib := range m.Libraries {
			if lib.ForkSafe {
				d.info("fork safety", fmt.Sprintf("%s loaded %s: %s", m.Module, lib.Path, lib.Why))
				continue
			}
			hazard = true
			d.warn("fork safety", fmt.Sprintf("%s loaded %s: %s", m.Module, lib.Path, lib.Why),
				"fork no worker from a process that imported it: keep the spawn strategy (StartPool's default) for this module, "+
					"do not preload it (WithPreload, warm hosts), or load it inside a handler, after the fork")
		}
		if n := len(m.NativeThreads); n > 0 || len(m.PythonThreads) > 0 {
			hazard = true
			var names []string
			for _, t := range m.NativeThreads {
				names = append(names, t.Name)
			}
			var which []string
			if len(m.PythonThreads) > 0 {
				which = append(which, "Python threads: "+strings.Join(m.PythonThreads, ", "))
			}
			if len(names) > 0 {
				which = append(which, "native names: "+strings.Join(names, ", "))
			}
			detail := fmt.Sprintf("%s started %d thread%s at import (%s)", m.Module, n, plural(n, "", "s"), strings.Join(which, "; "))
			d.warn("threads", detail, "a fork copies only the thread that forks, and locks the others held stay locked: "+
				"start threads in a handler, not at import, or keep the spawn strategy for this module")
		}
		if !hazard {
			d.ok("fork safety", m.Module+": started no thread at import and loaded no native library known to break a fork")
		}
	}
	return imported
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// stderrTail returns the last lines of an interpreter's stderr, indented, or "".
func stderrTail(b []byte) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	if len(b) == 0 {
		return ""
	}
	return "\n        | " + strings.Join(lines, "\n        | ")
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

// failWith is fail with body (a traceback) between the detail and the fix, one line each.
func (r *report) failWith(what, detail, body, fix string) {
	r.failed = true
	fmt.Fprintf(r.w, "  FAIL  %-13s %s\n", what, detail)
	for _, line := range strings.Split(body, "\n") {
		fmt.Fprintf(r.w, "        | %s\n", line)
	}
	fmt.Fprintf(r.w, "        fix: %s\n", fix)
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
