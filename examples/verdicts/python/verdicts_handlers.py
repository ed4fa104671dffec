"""Handlers of the verdicts example: keywords fails on purpose for "boom"."""

from typing import Dict, List


def keywords(args: Dict[str, str]) -> List[str]:
    return _extract(args["text"])


def _extract(text: str) -> List[str]:
    if text == "boom":
        raise ValueError(f"cannot tag {text!r}")
    return sorted({w for w in text.lower().split() if len(w) > 3})
