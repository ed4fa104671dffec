"""A handler module that runs a GNU OpenMP parallel region at import (through
ctypes, stdlib only), as a warm-up fit of scikit-learn does: libgomp keeps
its thread team, and a forked child's next parallel region waits for it
forever."""

import ctypes
import ctypes.util
from typing import Any

_gomp = ctypes.CDLL(ctypes.util.find_library("gomp") or "libgomp.so.1")
_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


@_FN
def _body(data: Any) -> None:
    pass


def parallel(args: Any) -> int:
    """Run a parallel region of 2 threads; returns how many there were."""
    _gomp.GOMP_parallel(_body, None, 2, 0)
    return 2


parallel(None)
