"""Calls for the pipelining specs: one that lasts until Go says so, one
that blocks on a FIFO without reading frames, and one whose runs are noted."""

import os
from typing import Any, Iterator, List

from pyharness_worker.bridge import call_go

# The args of every note call this worker ran, in order.
_noted: List[Any] = []


def hold(args: Any) -> int:
    """Ask Go's "hold" (it answers when the spec lets the call end); return this worker's pid."""
    call_go("hold", {"tag": args, "pid": os.getpid()})
    return os.getpid()


def fifo(args: Any) -> str:
    """Read the FIFO at args until the spec closes it: a plain call that reads no frame while it runs."""
    with open(args, encoding="utf-8") as f:
        return f.read()


def note(args: Any) -> Any:
    """Note args and return them."""
    _noted.append(args)
    return args


def noted(args: Any) -> List[Any]:
    """The args of the note calls this worker ran."""
    return list(_noted)


def noted_items(args: Any) -> Iterator[List[Any]]:
    """Yield the noted args args times (a stream)."""
    for _ in range(int(args)):
        yield list(_noted)
