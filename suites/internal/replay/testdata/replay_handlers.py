"""Handlers the replay specs record on real Python, stdlib only.

REPLAY_VARIANT=2 in the environment changes classify's answer: the
"changed handler" verify mode must catch."""

import os
from typing import Any, Dict, Iterator

from pyharness_worker.bridge import call_go

VARIANT = os.environ.get("REPLAY_VARIANT", "1")


def classify(args: Dict[str, Any]) -> Dict[str, Any]:
    text = args["text"]
    if not isinstance(text, str):
        raise TypeError("text must be a string")
    label = "positive" if "great" in text else "negative"
    if VARIANT == "2" and label == "positive":
        label = "glad"
    return {"label": label, "score": 1, "words": text.split()}


def explain(args: Dict[str, Any]) -> Iterator[str]:
    for word in str(args["text"]).split():
        yield f"{word}:{call_go('lexicon', word)}"


def fail_after(args: Dict[str, Any]) -> Iterator[int]:
    for i in range(int(args["n"])):
        yield i
    raise ValueError(f"stopped after {args['n']}")


def login(args: Dict[str, Any]) -> Dict[str, Any]:
    return {"user": args["user"], "token": "tok-" + args["api_key"][::-1]}
