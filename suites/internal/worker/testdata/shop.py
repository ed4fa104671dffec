"""A user handler module: plain functions taking args and returning JSON-able data."""

import subprocess
from typing import Any, Dict, List

from pyharness_worker.context import current


def add(args: Dict[str, int]) -> int:
    return args["a"] + args["b"]


def add_to_cart(item: str) -> List[str]:
    cart = current().state.setdefault("cart", [])
    cart.append(item)
    return cart


def deadline(args: Any) -> Any:
    return current().deadline_ms


def spawn_child(args: Any) -> int:
    """Start a long-lived grandchild and return its pid."""
    child = subprocess.Popen(["sleep", "3600"])
    return child.pid
