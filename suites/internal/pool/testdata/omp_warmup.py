"""A scikit-learn service module as users write them: it checks its model
at load with a warm-up fit, which runs GNU OpenMP code (libgomp) at import.
With more than one OpenMP thread, libgomp keeps its thread team in the
importing process: a zygote that imported this cannot fork safely."""

import os
from typing import Any, Dict, List

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def _data(n: int, seed: int) -> "tuple[Any, Any]":
    rng = np.random.RandomState(seed)
    x = rng.rand(n, 4)
    return x, (x[:, 0] + x[:, 1] > 1.0).astype(int)


_MODEL = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(*_data(400, 0))  # the warm-up fit


def predict(args: Dict[str, List[List[float]]]) -> List[int]:
    """Fit a fresh model (an OpenMP region in this process) and label rows."""
    model = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(*_data(400, 1))
    return [int(v) for v in model.predict(np.array(args["rows"], dtype=float))]


def fit(args: Dict[str, int]) -> float:
    """One gradient-boosting fit of args["n"] rows (the benchmark's unit of work); its training score."""
    model = HistGradientBoostingClassifier(max_iter=int(args.get("iters", 50)), random_state=0, early_stopping=False)
    x, y = _data(int(args["n"]), 2)
    return float(model.fit(x, y).score(x, y))


def thread_env(args: Any) -> Dict[str, Any]:
    """The thread-count variables this worker runs with, and its pid."""
    return {"pid": os.getpid(), "env": {v: os.environ.get(v) for v in THREAD_VARS}}
