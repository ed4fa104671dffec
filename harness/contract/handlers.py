"""Handlers the contract specs call; mock targets install Go equivalents (contract.InstallMock)."""

import asyncio
from typing import Any, Dict, Iterator, List

from pyharness_worker.bridge import GoError, acall_go, call_go
from pyharness_worker.context import current


def remember(args: Any) -> int:
    """Append args to the session's list and return its length."""
    items = current().state.setdefault("items", [])
    items.append(args)
    return len(items)


def unserializable(args: Any) -> Dict[str, Any]:
    return {"model": object()}


def not_a_number(args: Any) -> float:
    return float("nan")


def add(args: Dict[str, int]) -> int:
    return args["a"] + args["b"]


class BrokenStr(Exception):
    """An exception whose __str__ itself raises."""

    def __str__(self) -> str:
        raise RuntimeError("no text for you")


def broken_str(args: Any) -> None:
    raise BrokenStr()


# -- calls that talk back: streams, async handlers, calls into Go -------------

closed: List[str] = []  # streams and tasks whose cleanup ran, in order


def count(args: Dict[str, int]) -> Iterator[int]:
    """Yield 0..n-1; records its end in closed (also when the caller leaves early)."""
    try:
        for i in range(args["n"]):
            yield i
    finally:
        closed.append("count")


def fail_after(args: Dict[str, int]) -> Iterator[int]:
    yield from range(args["n"])
    raise ValueError(f"failed after {args['n']} items")


def were_closed(args: Any) -> List[str]:
    return list(closed)


async def nap(args: Any) -> str:
    """Tell Go it started, then sleep until cancelled."""
    try:
        await acall_go("started")
        await asyncio.sleep(3600)
        return "woke up"
    except asyncio.CancelledError:
        closed.append("nap")
        raise


def ask(args: Dict[str, Any]) -> Dict[str, Any]:
    """Call the Go function args["name"] with args["args"]."""
    try:
        return {"answer": call_go(args["name"], args.get("args"))}
    except GoError as exc:
        return {"error": exc.type, "kind": exc.kind, "class": type(exc).__name__, "message": str(exc)}


# -- many calls on one worker (WithConcurrency) ------------------------------

_groups: Dict[str, Dict[str, Any]] = {}
_gates: Dict[str, "asyncio.Event"] = {}


def _gate(name: str) -> "asyncio.Event":
    if name not in _gates:
        _gates[name] = asyncio.Event()
    return _gates[name]


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


async def gate_wait(args: Dict[str, Any]) -> str:
    """Tell Go it started, then wait for gate_open of args["gate"] (at most args["timeout"] s)."""
    try:
        await acall_go("started", args["gate"])
        await asyncio.wait_for(_gate(args["gate"]).wait(), args["timeout"])
        return "passed " + args["gate"]
    except asyncio.TimeoutError:
        return "timed out at " + args["gate"]
    except asyncio.CancelledError:
        closed.append("gate_wait " + args["gate"])
        raise


async def gate_open(args: Dict[str, Any]) -> str:
    _gate(args["gate"]).set()
    return "opened " + args["gate"]


async def gated_count(args: Dict[str, Any]) -> Any:
    """Yield 0, wait for gate_open of args["gate"] (at most args["timeout"] s), then yield 1..n-1."""
    yield 0
    try:
        await asyncio.wait_for(_gate(args["gate"]).wait(), args["timeout"])
    except asyncio.TimeoutError:
        raise TimeoutError("gate " + args["gate"] + " was not opened while the stream ran") from None
    for i in range(1, args["n"]):
        yield i


async def ask_async(args: Dict[str, Any]) -> Any:
    """Call the Go function args["name"] with args["args"] from an async handler."""
    return await acall_go(args["name"], args.get("args"))


def length(args: Any) -> int:
    """len(args): what a handler sees of a value (a []byte: its base64 str)."""
    return len(args)


def large_surrogate(args: int) -> str:
    """A large string ending in a lone surrogate: unserializable."""
    return "x" * args + "\ud800"
