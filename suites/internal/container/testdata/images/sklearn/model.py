"""A scikit-learn service's handlers: fit a model and predict with it, in
a container whose image was built from a package list (python3-sklearn)."""

from typing import Any, Dict, List

import sklearn
from sklearn.linear_model import LogisticRegression


def fit_predict(args: Dict[str, Any]) -> Dict[str, Any]:
    model = LogisticRegression()
    model.fit(args["x"], args["y"])
    return {
        "predicted": [int(v) for v in model.predict(args["query"])],
        "classes": [int(v) for v in model.classes_],
        "sklearn": sklearn.__version__,
    }
