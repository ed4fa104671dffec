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

from typing import Any

from .context import current


class GoError(Exception):
    """A Go function called with call_go failed: kind says how (error,
    panic, goexit, too_large, unencodable, unknown_callback); type is the
    name Go gave it (GoError, GoPanic, GoExit, UnknownCallback)."""

    def __init__(self, type_name: str, message: str, kind: str = "error") -> None:
        super().__init__(message)
        self.type = type_name
        self.kind = kind


class UnknownCallback(GoError):
    """No Go function of that name is registered for the call, or the name
    is not a non-empty string."""

    def __init__(self, message: str) -> None:
        super().__init__("UnknownCallback", message, "unknown_callback")


class Cancelled(BaseException):
    """The Go caller cancelled the call this handler serves."""


def call_go(name: str, args: Any = None) -> Any:
    """Call the Go function registered as name with args (any JSON value)
    and return its result."""
    req = current()
    return req.worker.call_go(req, name, args)


async def acall_go(name: str, args: Any = None) -> Any:
    """call_go for async handlers. The worker serves one call at a time, so
    the event loop waits for Go's answer, as call_go does."""
    return call_go(name, args)


__all__ = ["call_go", "acall_go", "GoError", "UnknownCallback", "Cancelled"]
