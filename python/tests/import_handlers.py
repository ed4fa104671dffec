"""Handlers that import modules or raise: what the `state` method counts."""

import importlib
from typing import Any, Iterator, List


def boom(message: Any) -> None:
    raise ValueError(message)


def load(names: List[str]) -> List[str]:
    for name in names:
        importlib.import_module(name)
    return names


def load_in_stream(names: List[str]) -> Iterator[str]:
    yield "first, before any import"
    for name in names:
        importlib.import_module(name)
        yield name


def load_when_closed(names: List[str]) -> Iterator[int]:
    try:
        yield 1
        yield 2
    finally:
        for name in names:
            importlib.import_module(name)


async def load_async(names: List[str]) -> List[str]:
    for name in names:
        importlib.import_module(name)
    return names


async def nothing_async(args: Any) -> None:
    return None
