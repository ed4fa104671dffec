"""Async handlers for the multiplexing tests (test_multiplex.py)."""

import asyncio
from typing import Any, AsyncIterator, Dict

from pyharness_worker.bridge import acall_go
from pyharness_worker.context import current

_gates: Dict[str, asyncio.Event] = {}


def _gate(name: str) -> asyncio.Event:
    return _gates.setdefault(name, asyncio.Event())


async def wait_gate(args: str) -> str:
    """Wait until open_gate(args); returns args."""
    await _gate(args).wait()
    return args


def open_gate(args: str) -> bool:
    """A sync handler: opens the gate a wait_gate call waits on."""
    _gate(args).set()
    return True


async def gated_items(args: Dict[str, Any]) -> AsyncIterator[int]:
    """Yield args["n"] items, the last after gate args["gate"] opens."""
    for i in range(args["n"] - 1):
        yield i
    await _gate(args["gate"]).wait()
    yield args["n"] - 1


async def ask(args: Any) -> Any:
    """Ask Go's "double" for args, then tag the answer with the call's id."""
    answer = await acall_go("double", args)
    return {"answer": answer, "id": current().id}


def sync_echo(args: Any) -> Any:
    return args


async def boom(args: Any) -> None:
    await asyncio.sleep(0)
    raise ValueError(f"boom {args}")
