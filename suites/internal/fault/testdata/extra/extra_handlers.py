"""A module found only through WithEnv("PYTHONPATH=...")."""

import os
from typing import Any


def python_path(args: Any) -> str:
    return os.environ.get("PYTHONPATH", "")


def wrapped(args: Any) -> dict:
    import sys

    return {"wrapped": os.environ.get("WRAPPED", ""), "dev_mode": sys.flags.dev_mode}
