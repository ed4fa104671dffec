"""Handlers computing with numpy, which the zygote preloads before forking."""

from typing import Any, Dict, List

import numpy


def mean(values: List[float]) -> float:
    return float(numpy.mean(numpy.array(values, dtype=float)))


def matmul(args: Dict[str, Any]) -> List[List[float]]:
    return (numpy.array(args["a"], dtype=float) @ numpy.array(args["b"], dtype=float)).tolist()


def thread_env(_: Any = None) -> Dict[str, str]:
    """The thread-limit variables this worker runs with (the zygote's, inherited)."""
    import os

    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
    return {n: os.environ.get(n, "") for n in names}
