package isolation

import (
	"os"
	"os/exec"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/pyharness/pyharness"
	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/isolation"
	"github.com/pyharness/pyharness/mockpy"
	"github.com/pyharness/pyharness/suites/internal/suite"
)

// nestedEnv names the offending spec a nested run of this binary executes.
const nestedEnv = "PYHARNESS_TEST_NESTED"

// runNested runs this test binary again with only the offending spec name
// registered, and returns the finished session.
func runNested(name string, env ...string) *gexec.Session {
	GinkgoHelper()
	session, err := gexec.Start(nestedCmd(name, env...), GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	Eventually(session).WithTimeout(2 * time.Minute).Should(gexec.Exit())
	return session
}

// nestedCmd is the command of runNested.
func nestedCmd(name string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], suite.Run, "-ginkgo.no-color")
	cmd.Env = append(append(os.Environ(), nestedEnv+"="+name, suite.Only("isolation")), env...)
	return cmd
}

// aheadNested is runNested for a child of a suite.Ahead: the nested run
// starts before the container's first spec, beside the others.
func aheadNested(a *suite.Ahead, name string, env ...string) *suite.Child {
	return a.Add(func() *exec.Cmd { return nestedCmd(name, env...) })
}

var leakedFile *os.File

// released is closed by a cleanup that an offender registers before the
// nodes of the check it offends (releaseAfterTheChecks): cleanups run in
// the reverse order of their registration, so it is closed once the check
// has run. What the offender leaves blocked on it (a goroutine, a call in
// flight) is still running when its check looks, and ends afterwards: the
// end of the nested run, whose check would report it a second time (and
// wait goleak's retries out for it, about 0.4 s, and a call's grace), finds
// nothing left.
var released chan struct{}

func releaseAfterTheChecks() {
	BeforeEach(func() {
		released = make(chan struct{})
		DeferCleanup(func() { close(released) })
	})
}

// Offending specs, registered only in a nested run: each leaks one thing,
// and its mode must fail it.
var _ = func() bool {
	switch nested {
	case "basic-unconsumed":
		describe("offender", func() {
			mode := isolation.Basic()
			It("appends a handler it never uses", func() {
				mode.Mock().AppendHandlers(mockpy.Respond("never"))
			})
		})
	case "registry-name":
		describe("offender", func() {
			mode := isolation.Registry(nil)
			It("registers a name and never releases it", func() {
				mode.Register(mode.Name("queue"))
			})
		})
	case "registry-session":
		describe("offender", func() {
			mode := isolation.Registry(func() pyharness.Caller { return python.Pool() })
			It("leaves session state in Python", func(ctx SpecContext) {
				Expect(python.Pool().Call(mode.Session(ctx, "cart"), "remember", "apple", nil)).To(Succeed())
			})
		})
	case "contamination-env", "contamination-goroutine", "contamination-tempfile", "contamination-fd":
		describe("offender", func() {
			releaseAfterTheChecks()
			isolation.ContaminationDetection(nil)
			It("leaks "+nested, func() {
				switch nested {
				case "contamination-env":
					os.Setenv("PYHARNESS_LEAKED_VAR", "oops")
				case "contamination-goroutine":
					go func() { <-released }() // still running when the check looks
				case "contamination-tempfile":
					f, err := os.CreateTemp("", "leaked-*.txt")
					Expect(err).NotTo(HaveOccurred())
					f.Close()
				case "contamination-fd":
					var err error
					leakedFile, err = os.Open("/dev/null") // kept reachable: a finalizer would close it
					Expect(err).NotTo(HaveOccurred())
				}
			})
		})
	case "contamination-python":
		describe("offender", func() {
			isolation.ContaminationDetection(func() pyharness.Caller { return python.Pool().Workers()[0] })
			It("changes a module global in Python", func(ctx SpecContext) {
				Expect(python.Pool().Workers()[0].Call(ctx, "add_to_global_cart", "pear", nil)).To(Succeed())
			})
		})
	}
	return true
}()

var _ = describe("Each check fails the spec that breaks it (nested runs)", func() {
	if nested != "" {
		return
	}
	// The nested runs of a container start side by side before its first
	// spec (suite.Ahead): each waits goleak's retries out once, not in turn.
	offends := func(runs []struct{ text, name, want string }, env ...string) func() {
		return func() {
			a := suite.NewAhead()
			for _, r := range runs {
				child := aheadNested(a, r.name, env...)
				It(r.text, func() {
					session := child.Session()
					Expect(session).To(gexec.Exit(1), "the offending spec must fail")
					Expect(session.Out.Contents()).To(ContainSubstring(r.want))
				})
			}
		}
	}
	Describe("without Python", Ordered, ContinueOnFailure, offends([]struct{ text, name, want string }{
		{"basic: an appended handler never consumed", "basic-unconsumed", "appended handlers never used"},
		{"registry: a name never released", "registry-name", "names of this spec still registered"},
		{"contamination: an environment variable", "contamination-env", "+ PYHARNESS_LEAKED_VAR=oops"},
		{"contamination: a goroutine", "contamination-goroutine", "goroutines left running"},
		{"contamination: a temp file", "contamination-tempfile", "files left in temp dirs"},
		{"contamination: an open fd", "contamination-fd", "-> /dev/null"},
	}))
	Describe("with Python", Ordered, ContinueOnFailure, harness.Integration, offends([]struct{ text, name, want string }{
		{"registry: a Python session left with state", "registry-session", "Python sessions of this spec still hold state"},
		{"contamination: a Python module global", "contamination-python", "~ cart.CART"},
	}, "PYHARNESS_INTEGRATION=1"))
})
