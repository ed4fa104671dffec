"""Async calls that last until Go says so (the capacity specs, issue 26)."""

import os
from typing import Any

from pyharness_worker.bridge import acall_go


async def hold(args: Any) -> int:
    """Ask Go's "hold" with args (it answers when the spec lets the call end); return this worker's pid."""
    await acall_go("hold", {"tag": args, "pid": os.getpid()})
    return os.getpid()
