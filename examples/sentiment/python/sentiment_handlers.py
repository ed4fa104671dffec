"""The Python side of the sentiment example: a word-list classifier, stdlib only."""

import re
from typing import Dict

POSITIVE = {"great", "good", "love", "excellent", "fast", "happy", "perfect", "nice"}
NEGATIVE = {"bad", "awful", "hate", "slow", "broken", "terrible", "poor", "sad"}
WORD = re.compile(r"[a-z']+")


def classify(args: Dict[str, str]) -> Dict[str, object]:
    text = args["text"]
    if not isinstance(text, str):
        raise TypeError("text must be a string")
    words = WORD.findall(text.lower())
    pos = sum(w in POSITIVE for w in words)
    neg = sum(w in NEGATIVE for w in words)
    if pos == neg:
        return {"label": "neutral", "score": 0.5}
    label = "positive" if pos > neg else "negative"
    return {"label": label, "score": round(max(pos, neg) / (pos + neg), 3)}
