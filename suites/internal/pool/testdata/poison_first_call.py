"""A module whose forked children hang on their first call, as a forked
child of a process with a GNU OpenMP team does on its first parallel
region, but with no thread for the zygote's fork-safety check to see: only
the pool's watch of its workers' first calls can tell."""

import os
import threading
from typing import Any, Dict

_forked = False


def _in_child() -> None:
    global _forked
    _forked = True


os.register_at_fork(after_in_child=_in_child)


def work(args: Any) -> Dict[str, Any]:
    if _forked:
        threading.Event().wait()  # never set: a team that is not there
    return {"pid": os.getpid(), "forked": _forked}
