"""Handlers of a directory copied into the container (RemoteFS)."""

from typing import Any

from tools.shout import shout


def greet(args: Any) -> str:
    return "hello " + str(args)


def loud(args: Any) -> str:
    return shout(greet(args))
