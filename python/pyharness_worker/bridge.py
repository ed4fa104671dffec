"""Calls from a handler back into the Go program that called it.

    from pyharness_worker.bridge import call_go, GoError

    def answer(args):
        weather = call_go("weather", {"city": args["city"]})   # a Go function the caller registered
        return f"It is {weather['sky']} in {args['city']}"

    async def answer_async(args):
        return await acall_go("weather", {"city": args["city"]})

The Go side registers functions by name (realpy.WithCallback, or per call);
the call blocks until Go answers. A Go function's error, or a panic, raises
GoError here; an unknown name raises GoError with type "UnknownCallback".
If the Go caller cancels the call meanwhile, Cancelled is raised (a
BaseException, like asyncio.CancelledError: `except Exception` does not
swallow it); in an async handler, asyncio.CancelledError itself, as its
task is being cancelled.
"""

from typing import Any

from .context import current


class GoError(Exception):
    """A Go function called with call_go failed: type names the failure
    (GoError for a returned error, GoPanic, UnknownCallback)."""

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(message)
        self.type = type_name


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


__all__ = ["call_go", "acall_go", "GoError", "Cancelled"]
