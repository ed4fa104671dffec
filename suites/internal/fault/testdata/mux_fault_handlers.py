"""Async handlers for the fault specs of many calls per worker (issue 26)."""

import asyncio
import threading
import time
from typing import Any, Dict

from pyharness_worker.bridge import acall_go

_groups: Dict[str, Dict[str, Any]] = {}


async def hold(args: Dict[str, Any]) -> int:
    """Tell Go the call is running (the Go function "started"), then wait until cancelled."""
    await acall_go("started", args["n"])
    await asyncio.Event().wait()
    return args["n"]


async def echo_after(args: Dict[str, Any]) -> str:
    """Return args["token"] after args["delay"] seconds."""
    await asyncio.sleep(args["delay"])
    return args["token"]


async def meet(args: Dict[str, Any]) -> int:
    """Wait until args["n"] calls of args["group"] are here (at most args["timeout"] s); return how many came."""
    group = _groups.setdefault(args["group"], {"count": 0, "event": asyncio.Event()})
    group["count"] += 1
    if group["count"] >= args["n"]:
        group["event"].set()
    try:
        await asyncio.wait_for(group["event"].wait(), args["timeout"])
    except asyncio.TimeoutError:
        pass
    return int(group["count"])


async def nap(args: float) -> float:
    """Sleep args seconds without blocking the loop: the benchmark's waiting handler."""
    await asyncio.sleep(args)
    return args


async def hog(args: Dict[str, Any]) -> str:
    """Tell Go it started, then block the event loop: a sync sleep inside async def."""
    await acall_go("started", 0)
    time.sleep(args["seconds"])
    return "done"


_barrier = threading.Barrier(2)


def rendezvous(args: Any) -> int:
    """Sync: wait (at most args["timeout"] s) until another call is here too; return this thread's id."""
    _barrier.wait(args["timeout"])
    return threading.get_ident()
