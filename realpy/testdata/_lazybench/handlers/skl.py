"""A handler module that imports scikit-learn and fits something small."""
import numpy as np
from sklearn.linear_model import LogisticRegression


def fit(args):
    seed = int(args)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(200, 4))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    model = LogisticRegression().fit(x, y)
    return float(model.score(x, y))


def fit_and_hold(args):
    from pyharness_worker.bridge import call_go

    score = fit(args)
    call_go("hold", None)
    return score
