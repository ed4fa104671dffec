"""Calls from a handler back into the Go program that called it.

    from pyharness_worker.bridge import call_go, GoError

    def answer(args):
        weather = call_go("weather", {"city": args["city"]})   # a Go function the caller registered
        return f"It is {weather['sky']} in {args['city']}"

    async def answer_async(args):
        return await acall_go("weather", {"city": args["city"]})

The Go side registers functions by name (realpy.WithCallback, or per call);
the call blocks until Go answers. A Go function that fails raises GoError
here, its kind saying how: "error" (it returned one), "panic", "goexit" (it
called runtime.Goexit: t.FailNow inside a callback), "too_large" (its result
is over the frame limit), "unencodable" (its result is not JSON). A name
nobody registered, or one that is not a non-empty string, raises
UnknownCallback (a GoError of kind "unknown_callback").
If the Go caller cancels the call meanwhile, Cancelled is raised (a
BaseException, like asyncio.CancelledError: `except Exception` does not
swallow it); in an async handler, asyncio.CancelledError itself, as its
task is being cancelled.
"""

from .core import Cancelled, GoError, UnknownCallback, acall_go, call_go

__all__ = ["call_go", "acall_go", "GoError", "UnknownCallback", "Cancelled"]
