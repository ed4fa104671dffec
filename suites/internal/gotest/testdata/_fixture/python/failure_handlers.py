"""A handler that raises, for the failure-text tests of the fixture."""

from typing import Any


def _check(text: str) -> None:
    raise ValueError(f"cannot tag {text!r}")


def tag(args: Any) -> Any:
    return _check(args["text"])
