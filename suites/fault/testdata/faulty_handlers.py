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
