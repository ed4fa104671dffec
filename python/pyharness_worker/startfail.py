"""What a worker or zygote that cannot start writes last on stderr.

A module named at start that cannot be imported (a SyntaxError, an
ImportError, anything its top level raises) is reported as lines that name
the module and show the error where the user's code is: the SyntaxError's
file, line and caret, or the traceback with the frames of importlib and of
this package cut. The Go side shows the tail of stderr, so this is short.
"""

from __future__ import annotations

import importlib
import os
import traceback

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, List

from .handlers import ImportFailed

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_IMPORTLIB_DIR = os.path.dirname(os.path.abspath(importlib.__file__))


def _harness_frame(filename: str) -> bool:
    if filename.startswith("<frozen importlib"):
        return True
    path = os.path.abspath(filename)
    return os.path.dirname(path) in (_PACKAGE_DIR, _IMPORTLIB_DIR)


def _cut(te: Any, seen: set) -> None:
    """Drop the harness's frames from te and the exceptions chained to it."""
    if te is None or id(te) in seen:
        return
    seen.add(id(te))
    te.stack = traceback.StackSummary.from_list([f for f in te.stack if not _harness_frame(f.filename)])
    _cut(te.__cause__, seen)
    _cut(te.__context__, seen)


def user_lines(exc: BaseException) -> List[str]:
    """exc formatted as a traceback without the harness's frames."""
    te = traceback.TracebackException(type(exc), exc, exc.__traceback__)
    _cut(te, set())
    return "".join(te.format()).rstrip("\n").split("\n")


def describe(exc: BaseException) -> str:
    """The text of a failed start: for a module that cannot be imported,
    "cannot import handler module 'name':" and the user's lines; else the
    whole traceback."""
    if isinstance(exc, ImportFailed) and exc.__cause__ is not None:
        return f"{exc}:\n" + "\n".join(user_lines(exc.__cause__))
    return "start failed:\n" + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)).rstrip("\n")
