package host

import (
	"context"
	"os"
	"path/filepath"
	"strconv"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/pyharness/pyharness/harness"
	"github.com/pyharness/pyharness/internal/realpyx"
	"github.com/pyharness/pyharness/isolation/leak"
	"github.com/pyharness/pyharness/realpy"
)

// A host whose record (host.json) cannot be read is still found, by the
// environment of its process, and stopped or replaced, never left running.
var _ = describe("A warm host whose record cannot be read", harness.Integration, harness.PythonReal, func() {
	var opts []realpy.Option
	BeforeEach(func() {
		dir := GinkgoT().TempDir()
		write(filepath.Join(dir, "greeter.py"), "def greet(args):\n    return 'hi'\n")
		opts = []realpy.Option{realpy.WithPythonPath(dir), realpy.WithModules("greeter")}
	})

	// spoil starts a host and makes its record unreadable: a torn write.
	spoil := func(ctx context.Context) *realpy.Host {
		GinkgoHelper()
		h, err := realpy.StartHost(ctx, opts...)
		Expect(err).NotTo(HaveOccurred())
		write(filepath.Join(h.Dir(), "host.json"), `{"pid": `)
		return h
	}

	It("is listed by Hosts, alive, with its pid and why its record is unreadable", func(ctx SpecContext) {
		h := spoil(ctx)
		hosts, err := realpyx.Hosts(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(hosts).To(ConsistOf(And(
			HaveField("Dir", h.Dir()), HaveField("Pid", h.Pid()), HaveField("Alive", true),
			HaveField("Record", "unexpected end of JSON input"))))
	}, noHang)

	It("is stopped by StopHosts", func(ctx SpecContext) {
		h := spoil(ctx)
		stopped, err := realpyx.StopHosts("")
		Expect(err).NotTo(HaveOccurred())
		Expect(stopped).To(ConsistOf(h.Dir()))
		Expect(leak.ProcessAlive(h.Pid())).To(BeFalse())
		_, err = os.Stat(filepath.Join(h.Dir(), "host.json"))
		Expect(err).To(MatchError(os.ErrNotExist), "the record is removed")
	}, noHang)

	It("is replaced by the next StartHost, which stops it", func(ctx SpecContext) {
		h := spoil(ctx)
		again, err := realpy.StartHost(ctx, opts...)
		Expect(err).NotTo(HaveOccurred())
		Expect(again.Outcome).To(Equal(realpy.HostReplaced))
		Expect(again.Reason).To(Equal("its record could not be read (unexpected end of JSON input); its process " +
			strconv.Itoa(h.Pid()) + " was found by its environment and stopped"))
		Expect(leak.ProcessAlive(h.Pid())).To(BeFalse(), "the old host does not run on beside the new one")
		Expect(leak.ProcessAlive(again.Pid())).To(BeTrue())
	}, noHang)
})
