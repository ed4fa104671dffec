"""Loading user handler modules named at start with --module."""

from __future__ import annotations

import importlib
import types

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Dict

    Handler = Callable[[Any], Any]


class HandlerError(Exception):
    """A user module cannot be loaded or clashes with another method."""


class ImportFailed(HandlerError):
    """Importing a module named at start raised: kind says which list named
    it ("handler module" for --module, "preload module" for --preload);
    the exception is the __cause__."""

    def __init__(self, kind: str, module: str) -> None:
        super().__init__(f"cannot import {kind} {module!r}")
        self.kind = kind
        self.module = module


def import_named(module_name: str, kind: str = "handler module") -> types.ModuleType:
    """importlib.import_module, raising ImportFailed from what it raised."""
    try:
        return importlib.import_module(module_name)
    except Exception as exc:  # SyntaxError, ImportError, anything its top level raises
        raise ImportFailed(kind, module_name) from exc


def handlers_of(module_name: str, kind: str = "handler module") -> Dict[str, Handler]:
    """The methods a module serves.

    A module may list them in a dict named PYHARNESS_METHODS; otherwise
    every public function defined in the module itself (not imported into
    it) is a method named after the function.
    """
    module = import_named(module_name, kind)
    explicit = getattr(module, "PYHARNESS_METHODS", None)
    if explicit is not None:
        if not isinstance(explicit, dict):
            raise HandlerError(f"{module_name}.PYHARNESS_METHODS must be a dict, not {type(explicit).__name__}")
        for name, fn in explicit.items():
            if not isinstance(name, str) or not callable(fn):
                raise HandlerError(f"{module_name}.PYHARNESS_METHODS[{name!r}] is not a callable under a str name")
        return dict(explicit)
    found: Dict[str, Handler] = {}
    for name, fn in vars(module).items():
        if name.startswith("_") or not isinstance(fn, types.FunctionType):
            continue
        if fn.__module__ != module.__name__:
            continue
        found[name] = fn
    return found


def register(table: Dict[str, Handler], module_name: str, handlers: Dict[str, Handler]) -> None:
    """Add handlers to table; a name already taken is a HandlerError."""
    for name, fn in handlers.items():
        if name in table:
            raise HandlerError(f"method {name!r} of module {module_name} is already defined")
        table[name] = fn
