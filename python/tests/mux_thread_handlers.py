"""Handlers for the thread-pool and blocked-loop tests (test_mux_limits.py):
sync ones, run in threads with --sync-threads, and async ones to steer them."""

import threading
import time
from typing import Any, Dict, Iterator

from pyharness_worker.bridge import call_go
from pyharness_worker.context import current

_lock = threading.Lock()
_gates: Dict[str, threading.Event] = {}
_barriers: Dict[str, threading.Barrier] = {}
# How long a sync handler waits for its gate or partner before failing:
# a bound so a broken worker fails the test instead of hanging it.
_PATIENCE = 30.0


def _gate(name: str) -> threading.Event:
    with _lock:
        return _gates.setdefault(name, threading.Event())


def tgate(name: str) -> str:
    """Sync: wait until topen(name); returns name."""
    if not _gate(name).wait(_PATIENCE):
        raise TimeoutError(f"gate {name!r} never opened")
    return name


async def topen(name: str) -> bool:
    """Async (a task, not a thread): opens the gate tgate(name) waits on."""
    _gate(name).set()
    return True


def meet(args: Dict[str, Any]) -> str:
    """Sync: wait until args["parties"] calls of args["name"] all run at
    once; returns the name of the thread it ran in."""
    with _lock:
        barrier = _barriers.setdefault(args["name"], threading.Barrier(args["parties"]))
    barrier.wait(_PATIENCE)
    return threading.current_thread().name


def where(args: Any) -> str:
    """Sync: the name of the thread it runs in."""
    return threading.current_thread().name


def sync_ask(n: Any) -> Dict[str, Any]:
    """Sync: ask Go's "double" for n (a sync call_go), tag the answer with the call's id."""
    return {"answer": call_go("double", n), "id": current().id}


def sync_items(n: int) -> Iterator[int]:
    """Sync: a stream of n items."""
    yield from range(n)


async def aecho(args: Any) -> Any:
    return args


def _block(past: float) -> Any:
    """Block the thread until past seconds have gone by, then call_go("blocked")
    (a sync call: it waits for Go's answer), whose answer it returns."""
    start = time.monotonic()
    while time.monotonic() - start <= past:
        time.sleep(past / 4)
    return call_go("blocked", None)


async def hog(past: float) -> Any:
    """Async, but blocks the event loop (_block)."""
    return _block(past)


def sync_hog(past: float) -> Any:
    """Sync: blocks the thread it runs in (_block); the loop's own without --sync-threads."""
    return _block(past)


async def sleeper(seconds: float) -> float:
    """Async, but blocks the event loop at once with a sync sleep."""
    time.sleep(seconds)
    return seconds
