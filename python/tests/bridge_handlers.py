"""Handlers that stream, run async and call back into Go (the tests drive Go's side)."""

import asyncio
from typing import Any, AsyncIterator, Dict, Iterator, List

from pyharness_worker.bridge import GoError, acall_go, call_go

closed: List[str] = []  # names of streams whose finally ran


def count(args: Dict[str, int]) -> Iterator[int]:
    try:
        for i in range(args["n"]):
            yield i
    finally:
        closed.append("count")


def fail_after(args: Dict[str, int]) -> Iterator[int]:
    yield from range(args["n"])
    raise ValueError(f"failed after {args['n']} items")


def bad_item(args: Any) -> Iterator[Any]:
    yield 1
    yield {1, 2}


def were_closed(args: Any) -> List[str]:
    return list(closed)


async def nap(args: float) -> str:
    try:
        if float(args) > 0:
            await acall_go("started")  # tells the test the handler runs
        await asyncio.sleep(float(args))
        return "rested"
    except asyncio.CancelledError:
        closed.append("nap")
        raise


async def acount(args: Dict[str, int]) -> AsyncIterator[int]:
    try:
        for i in range(args["n"]):
            await asyncio.sleep(0)
            yield i
    finally:
        closed.append("acount")


def ask(args: Dict[str, Any]) -> Any:
    try:
        return {"answer": call_go(args["name"], args.get("args"))}
    except GoError as exc:
        return {"error": exc.type, "message": str(exc)}


async def aask(args: Dict[str, Any]) -> Any:
    return {"answer": await acall_go(args["name"], args.get("args"))}


def ask_typed(args: Dict[str, Any]) -> Any:
    """call_go(args["name"]), reporting the GoError's class, type and kind."""
    try:
        return {"answer": call_go(args["name"], args.get("args"))}
    except GoError as exc:
        return {"class": type(exc).__name__, "type": exc.type, "kind": exc.kind, "message": str(exc)}
