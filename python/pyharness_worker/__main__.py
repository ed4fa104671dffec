"""python3 -m pyharness_worker --fd 3 [--alive-fd 4] [--worker-id ID] [--max-frame N] [--module pkg.mod ...]"""

import argparse
import socket
import sys
from typing import List, Optional

from . import DEFAULT_MAX_FRAME, max_frame_arg
from . import liveness
from .server import run


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="pyharness_worker", description=__doc__)
    parser.add_argument("--fd", type=int, required=True, help="file descriptor of a connected stream socket carrying frames")
    parser.add_argument("--worker-id", default="", help="identifier reported by ping")
    parser.add_argument("--max-frame", type=max_frame_arg, default=DEFAULT_MAX_FRAME, help="largest frame payload in bytes")
    parser.add_argument("--module", action="append", default=[], help="module whose handlers to serve (repeatable)")
    parser.add_argument("--run-id", default="", help="marker of the test run that owns this worker (ignored)")
    parser.add_argument("--alive-fd", type=int, default=None, help="file descriptor of a stream socket on which liveness probes are echoed")
    args = parser.parse_args(argv)
    if args.alive_fd is not None:
        liveness.start(args.alive_fd)
    sock = socket.socket(fileno=args.fd)
    return run(sock, args.worker_id, args.max_frame, args.module)


if __name__ == "__main__":
    sys.exit(main())
