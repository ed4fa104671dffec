//go:build !pyharness_fuzz

package wire_test

import (
	"fmt"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/format"

	"github.com/pyharness/pyharness/wire"
)

// A traceback as a real worker sends it (Python 3.11): the worker's
// dispatch frame first, then the user's handler frames.
const realTraceback = `Traceback (most recent call last):
  File "/tmp/cache/worker-6b06/pyharness_worker/server.py", line 221, in _run
    result = handler(req.args)
             ^^^^^^^^^^^^^^^^^
  File "/home/me/tagger/python/boom_handlers.py", line 5, in tag
    return helper(args["text"])
           ^^^^^^^^^^^^^^^^^^^^
  File "/home/me/tagger/python/boom_handlers.py", line 2, in helper
    raise ValueError(f"bad text {x!r}")
ValueError: bad text 'x'
`

var _ = Describe("Python errors as the user reads them", func() {
	exc := &wire.PythonError{Kind: wire.KindException, Type: "ValueError", Message: "bad text 'x'", Traceback: realTraceback}

	It("cuts the worker's own frames from the traceback and keeps the handler's", func() {
		Expect(exc.UserTraceback()).To(Equal(`Traceback (most recent call last):
  File "/home/me/tagger/python/boom_handlers.py", line 5, in tag
    return helper(args["text"])
           ^^^^^^^^^^^^^^^^^^^^
  File "/home/me/tagger/python/boom_handlers.py", line 2, in helper
    raise ValueError(f"bad text {x!r}")
ValueError: bad text 'x'`))
		Expect(exc.Traceback).To(Equal(realTraceback), "the raw traceback stays as the worker sent it")
	})

	It("cuts the event loop's standard-library frames above an async handler, and keeps chained sections", func() {
		async := &wire.PythonError{Kind: wire.KindException, Type: "ValueError", Message: "m", Traceback: `Traceback (most recent call last):
  File "/tmp/w/pyharness_worker/server.py", line 221, in _run
    result = handler(req.args)
  File "/tmp/w/pyharness_worker/server.py", line 300, in _run_async
    return self.loop.run_until_complete(coro)
  File "/usr/lib/python3.11/asyncio/base_events.py", line 653, in run_until_complete
    return future.result()
           ^^^^^^^^^^^^^^^
  File "/home/me/h.py", line 8, in atag
    return json.loads(args)
  File "/usr/lib/python3.11/json/__init__.py", line 346, in loads
    return _default_decoder.decode(s)
ValueError: m

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/tmp/w/pyharness_worker/server.py", line 221, in _run
    result = handler(req.args)
  File "/home/me/h.py", line 9, in atag
    raise RuntimeError("wrapped") from e
RuntimeError: wrapped
`}
		Expect(async.UserTraceback()).To(Equal(`Traceback (most recent call last):
  File "/home/me/h.py", line 8, in atag
    return json.loads(args)
  File "/usr/lib/python3.11/json/__init__.py", line 346, in loads
    return _default_decoder.decode(s)
ValueError: m

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/home/me/h.py", line 9, in atag
    raise RuntimeError("wrapped") from e
RuntimeError: wrapped`), "the standard library the handler called stays")
	})

	It("keeps a traceback made only of the worker's frames (a built-in raised)", func() {
		builtin := &wire.PythonError{Kind: wire.KindException, Type: "ValueError", Message: "m", Traceback: `Traceback (most recent call last):
  File "/tmp/w/pyharness_worker/server.py", line 221, in _run
    result = handler(req.args)
  File "/tmp/w/pyharness_worker/fault_methods.py", line 49, in _raise
    raise exc_type(message)
ValueError: m
`}
		Expect(builtin.UserTraceback()).To(ContainSubstring("fault_methods.py"))
	})

	It("carries the traceback as lines in Error, for go test and %v", func() {
		Expect(exc.Error()).To(Equal("python ValueError: bad text 'x'\n" + exc.UserTraceback()))
		Expect(fmt.Errorf("tagging: %w", exc).Error()).To(HavePrefix("tagging: python ValueError: bad text 'x'\nTraceback (most recent call last):\n  File \"/home/me/tagger/python/boom_handlers.py\", line 5, in tag\n"))
		Expect((&wire.PythonError{Kind: wire.KindUnknownMethod, Type: "UnknownMethod", Message: "unknown method 'x'"}).Error()).
			To(Equal("python unknown_method (UnknownMethod): unknown method 'x'"), "no traceback, one line")
	})

	It("shortens a traceback longer than a screen to its innermost lines in Error, and Gomega shows it whole", func() {
		var tb strings.Builder
		tb.WriteString("Traceback (most recent call last):\n")
		for i := range 30 {
			fmt.Fprintf(&tb, "  File \"/home/me/deep.py\", line %d, in f%d\n    f%d()\n", i+1, i, i+1)
		}
		tb.WriteString("RecursionError: too deep\n")
		deep := &wire.PythonError{Kind: wire.KindException, Type: "RecursionError", Message: "too deep", Traceback: tb.String()}
		lines := strings.Split(deep.Error(), "\n")
		Expect(lines).To(HaveLen(21))
		Expect(lines[1]).To(Equal("Traceback (most recent call last):"))
		Expect(lines[2]).To(Equal("  ... 43 more lines (the whole traceback is in the error's Traceback field)"))
		Expect(lines[20]).To(Equal("RecursionError: too deep"))
		Expect(format.Object(deep, 1)).To(ContainSubstring(`line 1, in f0`), "the whole traceback under the Error text")
		Expect(format.Object(exc, 1)).NotTo(ContainSubstring(`Traceback: "`), "no struct dump")
	})
})
