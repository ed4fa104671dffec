package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/internal/randid"
	"github.com/pyharness/pyharness/isolation/leak"
	"github.com/pyharness/pyharness/realpy"
)

var _ = describe("pyharness hosts and stop, for a host whose record cannot be read", harness.Integration, harness.PythonReal, func() {
	It("lists the host, says why, and stop stops it", func(ctx SpecContext) {
		cache := GinkgoT().TempDir()
		GinkgoT().Setenv("PYHARNESS_CACHE_DIR", cache)
		h, err := realpy.StartHost(ctx, realpy.WithPythonPath(testdata()), realpy.WithModules("quiet"),
			realpy.WithEnv("PYHARNESS_CLI_SPEC="+randid.Hex(8)), realpy.WithHostIdle(5*time.Minute))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(h.Stop)
		Expect(os.WriteFile(filepath.Join(h.Dir(), "host.json"), []byte(`{"pid": `), 0o600)).To(Succeed()) // a torn write
		key, env := filepath.Base(h.Dir()), []string{"PYHARNESS_CACHE_DIR=" + cache}

		s := pyharness(env, "", "hosts")
		Expect(s).To(gexec.Exit(0))
		lines := strings.Split(strings.TrimRight(string(s.Out.Contents()), "\n"), "\n")
		Expect(lines).To(HaveLen(3), string(s.Out.Contents()))
		Expect(lines[1]).To(MatchRegexp(`^%s +%d +%s +running +- +- +[0-9.]+ MiB +- +%s$`, key, h.Pid(), regexp.QuoteMeta(currentUser()), regexp.QuoteMeta(h.Dir())))
		Expect(lines[2]).To(Equal("the record of " + key + " cannot be read (unexpected end of JSON input): found by its process's environment; pyharness stop stops it"))

		s = pyharness(env, "", "stop")
		Expect(s).To(gexec.Exit(0))
		Expect(string(s.Out.Contents())).To(Equal("stopped " + key + " (pid " + strconv.Itoa(h.Pid()) + ") in " + cache + "\n"))
		Expect(leak.ProcessAlive(h.Pid())).To(BeFalse())

		s = pyharness(env, "", "hosts")
		Expect(s).To(gexec.Exit(0))
		Expect(string(s.Out.Contents())).To(Equal("no warm hosts in " + cache + "\n"))
	})
})
