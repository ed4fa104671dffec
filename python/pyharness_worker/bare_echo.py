"""The floor for a round trip: echo frames back on fd N with no JSON and no dispatch.

python3 -m pyharness_worker.bare_echo --fd 3

python/tests/test_imports.py loads it as a module the worker does not preload;
the floor `pyharness bench` and the Go benchmarks measure against is
internal/benchkit/floor_echo.py (the same loop, nothing of this package
imported, so work on the worker does not move the floor).
"""

import argparse
import socket
import sys
from typing import List, Optional

from .framing import HEADER, read_exact


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="pyharness_worker.bare_echo")
    parser.add_argument("--fd", type=int, required=True)
    args = parser.parse_args(argv)
    sock = socket.socket(fileno=args.fd)
    stream = sock.makefile("rb", buffering=1 << 16)
    try:
        while True:
            header = read_exact(stream, HEADER.size)
            if not header:
                return 0
            (size,) = HEADER.unpack(header)
            sock.sendall(header + read_exact(stream, size))
    finally:
        stream.close()
        sock.close()


if __name__ == "__main__":
    sys.exit(main())
