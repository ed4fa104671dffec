"""Handlers with module state, for the isolation specs."""

from typing import Any, List

from pyharness_worker.context import current

CART: List[Any] = []


def add_to_global_cart(item: Any) -> int:
    """Leaks on purpose: module state outlives the call."""
    CART.append(item)
    return len(CART)


def import_something(name: str) -> bool:
    __import__(name)
    return True


def remember(item: Any) -> int:
    items = current().state.setdefault("items", [])
    items.append(item)
    return len(items)
