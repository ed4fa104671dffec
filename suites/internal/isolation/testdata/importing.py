"""Handlers that raise or import modules, for the contamination specs."""

import importlib
from typing import Any, List


def boom(message: Any) -> None:
    raise ValueError(message)


def load(names: List[str]) -> List[str]:
    for name in names:
        importlib.import_module(name)
    return names


async def load_async(names: List[str]) -> List[str]:
    return load(names)
