"""Word counting, the Python side of example.com/wordcount."""

import re
from collections import Counter
from typing import Any, Dict, List

_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def count(args: Any) -> Dict[str, int]:
    """{"text": "..."} -> how often each lower-cased word occurs."""
    return dict(Counter(w.lower() for w in _WORD.findall(str(args["text"]))))


def top(args: Any) -> List[Dict[str, Any]]:
    """{"text": "...", "n": 3} -> the n most frequent words, most frequent first, ties by word."""
    counts = count(args)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [{"text": w, "count": c} for w, c in ranked[: int(args.get("n", 10))]]
