"""Handlers that return what JSON cannot carry."""

from typing import Any


def unserializable(args: Any) -> Any:
    return {"model": object()}


def not_a_number(args: Any) -> float:
    return float("nan")


def lone_surrogate(args: Any) -> str:
    return "\ud800"


class BrokenStr(Exception):
    """An exception whose __str__ itself raises."""

    def __str__(self) -> str:
        raise RuntimeError("no text for you")


def broken_str(args: Any) -> None:
    raise BrokenStr()


def chatter(args: Any) -> int:
    """Print args["lines"] lines of args["width"] bytes (a chatty handler)."""
    line = "x" * (args["width"] - 1)
    for _ in range(args["lines"]):
        print(line)
    return args["lines"] * args["width"]


def spin(args: Any) -> int:
    """Run Python code for args seconds (a slow, healthy handler)."""
    import time

    end = time.monotonic() + float(args)
    n = 0
    while time.monotonic() < end:
        n += 1
    return n


def stream_forever(args: Any) -> Any:
    """Yield 0, 1, 2, ... until the caller leaves (or the worker dies)."""
    i = 0
    while True:
        yield i
        i += 1


def ask_go(args: Any) -> Any:
    """Call the Go function args["name"] and return its answer."""
    from pyharness_worker.bridge import call_go

    return call_go(args["name"], args.get("args"))
