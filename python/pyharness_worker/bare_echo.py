"""The floor for a round trip: echo frames back on fd N with no JSON and no dispatch.

python3 -m pyharness_worker.bare_echo --fd 3

python/tests/test_imports.py loads it as a module the worker does not preload;
the floor `pyharness bench` and the Go benchmarks measure against is
internal/benchkit/floor_echo.py (the same loop, nothing of this package
imported, so work on the worker does not move the floor).

It imports no more than the loop needs (no argparse, no framing).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start
if TYPE_CHECKING:  # pragma: no cover
    from typing import BinaryIO, List, Optional

_USAGE = "usage: pyharness_worker.bare_echo --fd N"


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    data = stream.read(n)
    while len(data) < n:
        more = stream.read(n - len(data))
        if not more:
            raise EOFError(f"stream ended {n - len(data)} bytes short of a frame")
        data += more
    return data


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 1 and args[0].startswith("--fd="):
        args = ["--fd", args[0][len("--fd="):]]
    if len(args) != 2 or args[0] != "--fd" or not args[1].isdigit():
        print(_USAGE, file=sys.stderr)
        return 2
    import socket  # here: loading the module (test_imports.py) imports nothing the worker lacks

    sock = socket.socket(fileno=int(args[1]))
    stream = sock.makefile("rb", buffering=1 << 16)
    try:
        while True:
            header = stream.read(4)
            if not header:
                return 0
            if len(header) < 4:
                header += _read_exact(stream, 4 - len(header))
            size = int.from_bytes(header, "big")
            sock.sendall(header + _read_exact(stream, size))
    finally:
        stream.close()
        sock.close()


if __name__ == "__main__":
    sys.exit(main())
