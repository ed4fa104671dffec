"""Handlers that say what an image holds: which modules import, what a file says."""

import importlib.util
from typing import List


def importable(names: List[str]) -> List[bool]:
    return [importlib.util.find_spec(name) is not None for name in names]


def read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()
