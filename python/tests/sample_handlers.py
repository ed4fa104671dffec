"""A user handler module used by the tests."""

from typing import Any, Dict

from pyharness_worker.context import current
from os import getpid  # imported functions are not methods  # noqa: F401


def add(args: Dict[str, int]) -> int:
    return args["a"] + args["b"]


def remember(args: Any) -> int:
    state = current().state
    state.setdefault("items", []).append(args)
    return len(state["items"])


def _private(args: Any) -> None:
    raise AssertionError("private functions are not methods")


class BrokenStr(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text for you")


def broken_str(args: Any) -> None:
    raise BrokenStr()
