"""Timings of the worker's large-value frame paths (not a test: run it).

python3 python/tests/bench_framing.py   (from the repository root, or with
the python directory on PYTHONPATH); prints the best of 5 rounds, in CPU ms per
1 MiB call: the request decoded (loads_request) and the reply encoded
(dumps_text_reply, or dumps where the fast path does not apply).
"""

import os
import sys
import time
import timeit

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from pyharness_worker.framing import dumps, dumps_text_reply, loads_request  # noqa: E402

MIB = 1 << 20


def text_of(unit: str) -> str:
    return (unit * (MIB // len(unit.encode()) + 1))[: MIB // len(unit.encode()) * len(unit)]


TEXTS = {
    "ascii": "x" * MIB,
    "nonascii": text_of("héllo wörld ✓ 日本語のテキスト 😀 "),
    "prose": text_of('He said "hello", then left.\nA new line\tand a tab.\n'),
}


def best(call, number: int = 20) -> float:
    # CPU time, not wall time: the figures hold on a busy machine.
    return min(timeit.repeat(call, number=number, repeat=5, timer=time.process_time)) / number * 1e3


def main() -> None:
    for name, text in TEXTS.items():
        request = b'{"id":7,"method":"echo","args":' + dumps(text) + b"}"
        decode = best(lambda: loads_request(request))
        encode = best(lambda: dumps_text_reply(7, text) or dumps({"id": 7, "ok": True, "result": text}))
        print(f"{name:9s} request decode {decode:7.3f} ms   reply encode {encode:7.3f} ms")


if __name__ == "__main__":
    main()
