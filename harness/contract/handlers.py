"""Handlers the contract specs call; mock targets install Go equivalents (contract.InstallMock)."""

from typing import Any, Dict

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
