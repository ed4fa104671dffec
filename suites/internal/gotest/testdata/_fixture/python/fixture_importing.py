"""Handlers that raise or import modules: what DetectContamination counts."""

import importlib
from typing import Any, List


def boom(message: Any) -> None:
    raise ValueError(message)


def load(names: List[str]) -> List[str]:
    for name in names:
        importlib.import_module(name)
    return names
