"""Handlers for the callback and stream fault matrix (#22)."""

import time
from typing import Any, Dict, Iterator, List

from pyharness_worker.bridge import GoError, call_go

closed: List[str] = []  # streams whose finally ran, in order


def ask_typed(args: Dict[str, Any]) -> Any:
    """call_go(args["name"]), reporting the GoError's class, type and kind."""
    try:
        return {"answer": call_go(args["name"], args.get("args"))}
    except GoError as exc:
        return {"class": type(exc).__name__, "type": exc.type, "kind": exc.kind, "message": str(exc)}


def numbers(args: Any) -> Iterator[int]:
    """0, 1, 2, ... until the caller leaves; records its end in closed."""
    try:
        i = 0
        while True:
            yield i
            i += 1
    finally:
        closed.append("numbers")


def stubborn(args: Any) -> Iterator[int]:
    """Items until the caller leaves; then its finally never ends."""
    try:
        while True:
            yield 1
    finally:
        time.sleep(3600)


def were_closed(args: Any) -> List[str]:
    return list(closed)
