"""Handlers that return what JSON cannot carry."""

from typing import Any


def unserializable(args: Any) -> Any:
    return {"model": object()}


def not_a_number(args: Any) -> float:
    return float("nan")


def lone_surrogate(args: Any) -> str:
    return "\ud800"
