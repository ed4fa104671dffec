package unit

import (
	"errors"
	"fmt"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	_ "github.com/pyharness/pyharness/internal/failfmt"
	"github.com/pyharness/pyharness/wire"
)

func failureOf(err error) string {
	GinkgoHelper()
	failures := InterceptGomegaFailures(func() { Expect(err).NotTo(HaveOccurred()) })
	Expect(failures).To(HaveLen(1))
	return failures[0]
}

var _ = describe("The Gomega formatter of pyharness's errors", func() {
	exc := &wire.PythonError{Kind: wire.KindException, Type: "KeyError", Message: "'text'", Traceback: `Traceback (most recent call last):
  File "/tmp/w/pyharness_worker/server.py", line 221, in _run
    result = handler(req.args)
  File "/home/me/handlers.py", line 3, in tag
    return args["text"]
KeyError: 'text'
`}
	traceback := "Traceback (most recent call last):\n" +
		"      File \"/home/me/handlers.py\", line 3, in tag\n" +
		"        return args[\"text\"]\n" +
		"    KeyError: 'text'\n"

	It("prints a Python error wrapped by fmt.Errorf as lines, with no struct dump", func() {
		msg := failureOf(fmt.Errorf("tag %q: %w", "x", exc))
		Expect(msg).To(ContainSubstring("tag \"x\": python KeyError: 'text'\n    " + traceback))
		Expect(msg).To(ContainSubstring("<holds *wire.PythonError (kind exception, type KeyError)>"))
		Expect(msg).NotTo(ContainSubstring("server.py"))
		Expect(msg).NotTo(ContainSubstring("msg:"))
		Expect(msg).NotTo(ContainSubstring(`\n`))
	})

	It("prints errors.Join and %w twice (*fmt.wrapErrors) the same way", func() {
		for _, err := range []error{
			errors.Join(errors.New("first"), exc),
			fmt.Errorf("%w and %w", errors.New("first"), exc),
		} {
			msg := failureOf(err)
			Expect(msg).To(ContainSubstring("python KeyError: 'text'\n    " + traceback))
			Expect(msg).To(ContainSubstring("<holds *wire.PythonError (kind exception, type KeyError)>"))
			Expect(msg).NotTo(ContainSubstring("errs:"))
		}
	})

	It("names the typed errors a wrapped error of pyharness holds", func() {
		msg := failureOf(fmt.Errorf("call: %w", &wire.WorkerExitedError{WorkerID: "w1", Pid: 7, Code: 137, Signal: 9, Stderr: []string{"a", "b"}}))
		Expect(msg).To(ContainSubstring("worker w1 (pid 7) was killed by signal 9 (killed); stderr tail:\n        a\n        b"))
		Expect(msg).To(ContainSubstring("<holds *wire.WorkerExitedError>"))
		Expect(msg).NotTo(ContainSubstring("Stderr:"))
	})

	It("leaves every other error to Gomega", func() {
		msg := failureOf(fmt.Errorf("plain: %w", errors.New("x")))
		Expect(msg).NotTo(ContainSubstring("<holds"))
		Expect(strings.Count(msg, "plain: x")).To(BeNumerically(">=", 1))
	})
})
