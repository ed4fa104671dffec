"""The Python side of the sentiment example: a word-list classifier, stdlib only."""

import re
from typing import Dict, Iterator

from pyharness_worker.bridge import call_go

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


def explain(args: Dict[str, str]) -> Iterator[str]:
    """Stream one token per word, "word:polarity", asking the Go program's
    lexicon (a tool it registers for the call) about each word: an answer
    streamed as it is made, with a tool call per token, as an LLM agent would."""
    for word in WORD.findall(str(args["text"]).lower()):
        yield f"{word}:{call_go('lexicon', word)}"
