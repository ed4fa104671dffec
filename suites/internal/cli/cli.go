package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/internal/randid"
	"github.com/pyharness/pyharness/internal/realpyx"
	"github.com/pyharness/pyharness/isolation/leak"
	"github.com/pyharness/pyharness/realpy"
)

var commands = []string{"doctor", "bench", "hosts", "stop", "base-image"}

var _ = describe("pyharness help", func() {
	It("prints the commands on stdout and exits 0 for help, -h and --help, running none of them", func() {
		for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}, {"-help"}} {
			s := pyharness(nil, "", args...)
			Expect(s).To(gexec.Exit(0), "pyharness %v", args)
			Expect(s.Err.Contents()).To(BeEmpty(), "pyharness %v", args)
			out := string(s.Out.Contents())
			Expect(out).To(HavePrefix("pyharness checks a machine for pyharness"), "pyharness %v", args)
			Expect(out).To(ContainSubstring("usage: pyharness <command> [flags] [arguments]"))
			for _, c := range commands {
				Expect(out).To(MatchRegexp(`(?m)^  %s +\S`, regexp.QuoteMeta(c)), "pyharness %v lists %s", args, c)
			}
			Expect(out).NotTo(ContainSubstring("pyharness doctor\n"), "pyharness %v ran doctor", args)
		}
	})

	It("prints the usage on stderr and exits 2 without a command, with an unknown one, or with a flag before the command", func() {
		s := pyharness(nil, "")
		Expect(s).To(gexec.Exit(2))
		Expect(s.Out.Contents()).To(BeEmpty())
		Expect(s.Err).To(gbytes.Say("usage: pyharness <command>"))

		s = pyharness(nil, "", "frobnicate")
		Expect(s).To(gexec.Exit(2))
		Expect(string(s.Err.Contents())).To(HavePrefix("pyharness: unknown command \"frobnicate\"\n\n"))
		Expect(s.Err).To(gbytes.Say("usage: pyharness <command>"))

		s = pyharness(nil, "", "--verbose", "hosts")
		Expect(s).To(gexec.Exit(2))
		Expect(string(s.Err.Contents())).To(HavePrefix("pyharness: flag --verbose before a command: flags follow the command"))

		s = pyharness(nil, "", "help", "frobnicate")
		Expect(s).To(gexec.Exit(2))
		Expect(string(s.Err.Contents())).To(HavePrefix("pyharness help: unknown command \"frobnicate\""))
	})

	for _, c := range commands {
		It("describes "+c+" on stdout with exit 0 for -h, --help and `pyharness help "+c+"`, and does not run it", func() {
			for _, args := range [][]string{{c, "-h"}, {c, "--help"}, {"help", c}} {
				// PYHARNESS_PYTHON=/bin/false: a command that ran instead would fail.
				s := pyharness([]string{"PYHARNESS_PYTHON=/bin/false"}, "", args...)
				Expect(s).To(gexec.Exit(0), "pyharness %v: %s", args, s.Err.Contents())
				Expect(s.Err.Contents()).To(BeEmpty(), "pyharness %v", args)
				out := string(s.Out.Contents())
				Expect(out).To(HavePrefix("usage: pyharness "+c), "pyharness %v", args)
				Expect(out).To(ContainSubstring("\nflags:\n"), "pyharness %v lists its flags", args)
				Expect(out).NotTo(ContainSubstring("Run 'pyharness help"), "pyharness %v gives the whole description", args)
			}
		})

		It("refuses an unknown flag of "+c+" with exit 2, the error and the usage on stderr, nothing on stdout", func() {
			s := pyharness([]string{"PYHARNESS_PYTHON=/bin/false"}, "", c, "--no-such-flag")
			Expect(s).To(gexec.Exit(2))
			Expect(s.Out.Contents()).To(BeEmpty())
			Expect(string(s.Err.Contents())).To(HavePrefix("flag provided but not defined: -no-such-flag\nusage: pyharness " + c + " [flags]"))
			Expect(s.Err).To(gbytes.Say("\nflags:\n"))
			Expect(s.Err).To(gbytes.Say("Run 'pyharness help " + c + "' for details.\n"))
		})
	}

	It("refuses arguments a command does not take, and a flag after the arguments", func() {
		for _, args := range [][]string{{"hosts", "extra"}, {"doctor", "extra"}, {"base-image", "extra"}} {
			s := pyharness([]string{"PYHARNESS_PYTHON=/bin/false"}, "", args...)
			Expect(s).To(gexec.Exit(2), "pyharness %v", args)
			Expect(string(s.Err.Contents())).To(HavePrefix("pyharness "+args[0]+": unexpected argument \"extra\"\nusage: pyharness "+args[0]), "pyharness %v", args)
		}
		s := pyharness(nil, "", "stop", "0123abcd", "--all")
		Expect(s).To(gexec.Exit(2), "--all is a flag, not a key: the stop it would do is not the one asked for")
		Expect(string(s.Err.Contents())).To(HavePrefix("pyharness stop: flag --all after an argument: flags come before the arguments\nusage: pyharness stop [flags] [KEY ...]"))
		Expect(s.Out.Contents()).To(BeEmpty())
	})

	It("documents the scope of stop and hosts in their usage", func() {
		s := pyharness(nil, "", "help", "stop")
		Expect(s).To(gexec.Exit(0))
		out := string(s.Out.Contents())
		Expect(out).To(ContainSubstring("Without --all it sees the cache directory of this run alone:\n$PYHARNESS_CACHE_DIR, or else the user cache directory"))
		Expect(out).To(ContainSubstring("With --all it sees every cache directory where a warm host of this user\nruns, as well. Hosts of other users are never stopped, even by root"))
	})
})

var _ = describe("pyharness doctor without Python", func() {
	It("fails at the interpreter that does not run, instead of reporting it ok", func() {
		s := pyharness([]string{"PYHARNESS_PYTHON=/bin/false"}, "", "doctor")
		Expect(s).To(gexec.Exit(1))
		Expect(string(s.Out.Contents())).To(Equal("pyharness doctor\n" +
			"  FAIL  python        /bin/false does not run as Python (`/bin/false -c 'import platform'`: exit status 1)\n" +
			"        fix: install Python >= 3.9 (apt-get install python3) or set PYHARNESS_PYTHON to an interpreter\n" +
			"something required is missing (see FAIL above)\n"))
	})
})

var _ = describe("pyharness base-image", func() {
	It("runs from a directory outside this repository, and doctor's hint names a command that works from any module", func() {
		outside := GinkgoT().TempDir()
		s := pyharness(nil, outside, "base-image", "--print")
		Expect(s).To(gexec.Exit(0))
		recipe := string(s.Out.Contents())
		Expect(recipe).To(HavePrefix("#!/usr/bin/env bash\n"))
		Expect(recipe).To(ContainSubstring("mmdebstrap --variant=apt --include=python3"))
		Expect(recipe).To(ContainSubstring(`docker import`))
		Expect(recipe).NotTo(ContainSubstring("ci/base-image"), "the recipe names no file of this repository")

		s = pyharness(nil, outside, "help", "base-image")
		Expect(s).To(gexec.Exit(0))
		Expect(string(s.Out.Contents())).To(ContainSubstring("  export PYHARNESS_BASE_IMAGE=$(go run github.com/pyharness/pyharness/cmd/pyharness base-image)\n"))
	})
})

var _ = describe("pyharness doctor's base image hint", harness.Integration, harness.PythonContainer, func() {
	It("names a command that works from any module, run from outside this repository", func(ctx SpecContext) {
		if exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.Version}}").Run() != nil {
			Skip("Docker is not reachable: doctor stops before the base image check")
		}
		// An image nobody has: doctor stops at the base image, before it starts a container.
		s := pyharness([]string{"PYHARNESS_BACKEND=process", "PYHARNESS_BASE_IMAGE=pyharness-cli-spec-absent:" + randid.Hex(4),
			"TESTCONTAINERS_RYUK_DISABLED=true"}, "", "doctor")
		out := string(s.Out.Contents())
		Expect(s).To(gexec.Exit(0), "a warning without PYHARNESS_BACKEND=container: %s", out)
		Expect(out).To(MatchRegexp(`(?m)^  warn  base image    pyharness-cli-spec-absent:\w+ is not present$`))
		Expect(out).To(MatchRegexp(`(?m)^        fix: pull it \(docker pull pyharness-cli-spec-absent:\w+\), or build one from this machine's Debian packages: ` +
			regexp.QuoteMeta("export PYHARNESS_BASE_IMAGE=$(go run github.com/pyharness/pyharness/cmd/pyharness base-image) (or pyharness base-image, with the command installed)") + `$`))
		Expect(out).NotTo(ContainSubstring("ci/base-image"), "no path of this repository")
	})
})

var _ = describe("pyharness doctor --module", harness.Integration, harness.PythonReal, func() {
	doctor := func(modules ...string) *gexec.Session {
		GinkgoHelper()
		args := []string{"doctor", "--python-path", testdata()}
		for _, m := range modules {
			args = append(args, "--module", m)
		}
		// From a directory of its own: the modules come from --python-path.
		return pyharness([]string{"PYHARNESS_BACKEND=process"}, "", args...)
	}

	It("names a native library the import loaded that does not survive fork, with the fix", func(ctx SpecContext) {
		python, err := realpyx.FindPython(ctx, "")
		Expect(err).NotTo(HaveOccurred())
		if exec.Command(python, "-c", `import ctypes; ctypes.CDLL("libgomp.so.1")`).Run() != nil {
			Skip("libgomp.so.1 (GNU OpenMP) is not installed on this machine (Debian: apt-get install libgomp1): " +
				"there is no real fork-unsafe library to load")
		}
		s := doctor("uses_openmp")
		out := string(s.Out.Contents())
		Expect(s).To(gexec.Exit(0), out)
		Expect(out).To(MatchRegexp(`(?m)^  ok    module        uses_openmp imported in [0-9.]+(µs|ms|s), [0-9]+ native librar(y|ies) loaded$`))
		Expect(out).To(MatchRegexp(`(?m)^  warn  fork safety   uses_openmp loaded /\S*/libgomp\.so[.0-9]*: GNU OpenMP \(libgomp\): its thread pool does not survive fork; ` +
			`a forked worker hangs in its first parallel region once the parent has run one$`))
		Expect(out).To(ContainSubstring("        fix: fork no worker from a process that imported it: keep the spawn strategy (StartPool's default) for this module, " +
			"do not preload it (WithPreload, warm hosts), or load it inside a handler, after the fork\n"))
		Expect(out).To(ContainSubstring("  ok    zygote        started, forked a worker from a zygote that preloaded uses_openmp and answered ping in "))
		Expect(out).To(ContainSubstring("  info  docker        not checked with --module"))
		Expect(out).To(HaveSuffix("all required checks passed\n"))
	})

	It("reports the threads an import started, and a module that starts none and loads nothing known", func() {
		s := doctor("starts_thread", "quiet")
		out := string(s.Out.Contents())
		Expect(s).To(gexec.Exit(0), out)
		Expect(out).To(MatchRegexp(`(?m)^  warn  threads       starts_thread started 1 thread at import \(Python threads: poller; native names: \S+\)$`))
		Expect(out).To(ContainSubstring("        fix: a fork copies only the thread that forks, and locks the others held stay locked: " +
			"start threads in a handler, not at import, or keep the spawn strategy for this module\n"))
		Expect(out).To(ContainSubstring("  ok    fork safety   quiet: started no thread at import and loaded no native library known to break a fork\n"))
		Expect(out).NotTo(ContainSubstring("printed at import"), "what a module prints is not part of the report")
	})

	It("fails with exit 1 on a module that does not import, printing its traceback as lines from the user's frame", func() {
		s := doctor("broken", "quiet")
		out := string(s.Out.Contents())
		Expect(s).To(gexec.Exit(1), out)
		Expect(out).To(ContainSubstring("  FAIL  module        broken: the import failed\n" +
			"        | Traceback (most recent call last):\n" +
			"        |   File \"" + filepath.Join(testdata(), "broken.py") + "\", line 8, in <module>\n" +
			"        |     MODEL = load_model()\n"))
		Expect(out).To(ContainSubstring("        | RuntimeError: model file weights.bin is missing\n        fix: make `"))
		Expect(out).NotTo(ContainSubstring("importlib"), "the import machinery's frames are cut")
		Expect(out).To(ContainSubstring("  ok    module        quiet imported in "), "the other modules are still checked")
		Expect(out).To(HaveSuffix("something required is missing (see FAIL above)\n"))
	})
})

var _ = describe("pyharness hosts and stop", harness.Integration, harness.PythonReal, func() {
	// Hosts of this spec alone: a configuration (an environment entry) no
	// other run has, so their key is the spec's own, in cache directories
	// of the spec's own.
	var marker string
	BeforeEach(func() { marker = "PYHARNESS_CLI_SPEC=" + randid.Hex(8) })

	startHost := func(ctx SpecContext, cacheDir string) *realpy.Host {
		GinkgoHelper()
		GinkgoT().Setenv("PYHARNESS_CACHE_DIR", cacheDir)
		h, err := realpy.StartHost(ctx, realpy.WithPythonPath(testdata()), realpy.WithModules("quiet"),
			realpy.WithEnv(marker), realpy.WithHostIdle(5*time.Minute))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(h.Stop)
		Expect(leak.ProcessAlive(h.Pid())).To(BeTrue())
		return h
	}
	in := func(cacheDir string) []string { return []string{"PYHARNESS_CACHE_DIR=" + cacheDir} }

	It("lists a host with its owner, directory, PSS and idle time", func(ctx SpecContext) {
		cacheA := GinkgoT().TempDir()
		h := startHost(ctx, cacheA)
		key := filepath.Base(h.Dir())

		s := pyharness(in(cacheA), "", "hosts")
		Expect(s).To(gexec.Exit(0))
		lines := strings.Split(strings.TrimRight(string(s.Out.Contents()), "\n"), "\n")
		Expect(lines).To(HaveLen(2), string(s.Out.Contents()))
		Expect(strings.Fields(lines[0])).To(Equal([]string{"KEY", "PID", "OWNER", "STATE", "IDLE", "AGE", "PSS", "MODULES", "DIR"}))
		Expect(lines[1]).To(MatchRegexp(`^%s +%d +%s +running +[0-9]+s +[0-9]+s +[0-9.]+ MiB +quiet +%s$`,
			key, h.Pid(), regexp.QuoteMeta(currentUser()), regexp.QuoteMeta(h.Dir())))

		s = pyharness(in(cacheA), "", "hosts", "--json")
		Expect(s).To(gexec.Exit(0))
		var list []map[string]any
		Expect(json.Unmarshal(s.Out.Contents(), &list)).To(Succeed())
		Expect(list).To(HaveLen(1))
		Expect(list[0]).To(HaveKeyWithValue("dir", h.Dir()))
		Expect(list[0]).To(HaveKeyWithValue("cache_dir", cacheA))
		Expect(list[0]).To(HaveKeyWithValue("uid", float64(os.Getuid())))
		Expect(list[0]).To(HaveKeyWithValue("owner", currentUser()))
		Expect(list[0]).To(HaveKeyWithValue("pss_kib", BeNumerically(">", 0)))
		Expect(list[0]).To(HaveKey("idle"))
	})

	It("stops the hosts of this cache dir only: a host in another cache dir survives stop", func(ctx SpecContext) {
		cacheA, cacheB := GinkgoT().TempDir(), GinkgoT().TempDir()
		a, b := startHost(ctx, cacheA), startHost(ctx, cacheB)
		Expect(filepath.Base(a.Dir())).To(Equal(filepath.Base(b.Dir())), "one configuration, one key, two cache directories")

		s := pyharness(in(cacheA), "", "stop")
		Expect(s).To(gexec.Exit(0))
		Expect(string(s.Out.Contents())).To(Equal("stopped " + filepath.Base(a.Dir()) + " (pid " + strconv.Itoa(a.Pid()) + ") in " + cacheA + "\n"))
		Eventually(func() bool { return leak.ProcessAlive(a.Pid()) }).WithTimeout(10*time.Second).Should(BeFalse(), "the host of the cache dir stopped")
		Expect(leak.ProcessAlive(b.Pid())).To(BeTrue(), "the host of another cache dir survives")

		s = pyharness(in(cacheA), "", "stop")
		Expect(s).To(gexec.Exit(0))
		Expect(string(s.Out.Contents())).To(Equal("no warm hosts of yours to stop in " + cacheA + "\n"))
		Expect(leak.ProcessAlive(b.Pid())).To(BeTrue())
	})

	It("with --all, sees and stops this user's hosts in every cache dir", func(ctx SpecContext) {
		cacheA, cacheB, elsewhere := GinkgoT().TempDir(), GinkgoT().TempDir(), GinkgoT().TempDir()
		a, b := startHost(ctx, cacheA), startHost(ctx, cacheB)
		key := filepath.Base(a.Dir())

		s := pyharness(in(elsewhere), "", "hosts", "--json")
		Expect(s).To(gexec.Exit(0))
		Expect(strings.TrimSpace(string(s.Out.Contents()))).To(Equal("[]"), "without --all: this run's cache dir alone")

		s = pyharness(in(elsewhere), "", "hosts", "--all", "--json")
		Expect(s).To(gexec.Exit(0))
		var list []struct {
			Dir, CacheDir string
			Pid           int
		}
		Expect(json.Unmarshal(s.Out.Contents(), &list)).To(Succeed())
		var ours []string
		for _, h := range list {
			if filepath.Base(h.Dir) == key {
				ours = append(ours, h.Dir)
			}
		}
		Expect(ours).To(ConsistOf(a.Dir(), b.Dir()))

		// Bare `stop --all` would stop every warm host of this user on the
		// machine, those of other runs too: the key keeps it to the spec's.
		s = pyharness(in(elsewhere), "", "stop", key)
		Expect(s).To(gexec.Exit(1))
		Expect(string(s.Err.Contents())).To(Equal("pyharness stop: no warm host's key starts with \"" + key + "\" in " + elsewhere + "\n"))

		s = pyharness(in(elsewhere), "", "stop", "--all", key)
		Expect(s).To(gexec.Exit(0))
		Expect(strings.Split(strings.TrimSpace(string(s.Out.Contents())), "\n")).To(ConsistOf(
			"stopped "+key+" (pid "+strconv.Itoa(a.Pid())+") in "+cacheA,
			"stopped "+key+" (pid "+strconv.Itoa(b.Pid())+") in "+cacheB))
		for _, h := range []*realpy.Host{a, b} {
			Eventually(func() bool { return leak.ProcessAlive(h.Pid()) }).WithTimeout(10 * time.Second).Should(BeFalse())
		}
	})

	It("leaves alone the hosts of other users in the same cache dir", func(ctx SpecContext) {
		if os.Getuid() != 0 {
			Skip("making a host record another user owns needs root (chown)")
		}
		cacheA := GinkgoT().TempDir()
		mine := startHost(ctx, cacheA)
		// Another user's host, gone: its record, owned by nobody.
		theirs := filepath.Join(cacheA, "hosts", "0000000000000000")
		Expect(os.MkdirAll(theirs, 0o700)).To(Succeed())
		Expect(os.WriteFile(filepath.Join(theirs, "host.json"), []byte(`{"pid": 2147483646, "key": "k", "secret": "s"}`), 0o600)).To(Succeed())
		Expect(os.Chown(filepath.Join(theirs, "host.json"), 65534, 65534)).To(Succeed())
		Expect(os.Chown(theirs, 65534, 65534)).To(Succeed())

		s := pyharness(in(cacheA), "", "stop")
		Expect(s).To(gexec.Exit(0))
		Expect(strings.Split(strings.TrimSpace(string(s.Out.Contents())), "\n")).To(Equal([]string{
			"left alone 0000000000000000 (pid 2147483646, owner " + userName(65534) + "): pyharness stop stops only your own hosts",
			"stopped " + filepath.Base(mine.Dir()) + " (pid " + strconv.Itoa(mine.Pid()) + ") in " + cacheA,
		}))
		Expect(filepath.Join(theirs, "host.json")).To(BeAnExistingFile(), "another user's record stays")
	})
})

func currentUser() string {
	GinkgoHelper()
	return userName(os.Getuid())
}

// userName is the name of uid as the command prints it (the uid when it has none).
func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return strconv.Itoa(uid)
}
