"""A module found only through WithEnv("PYTHONPATH=...")."""

import os
from typing import Any


def python_path(args: Any) -> str:
    return os.environ.get("PYTHONPATH", "")
