"""python3 -m pyharness_worker --fd 3 [--alive-fd 4] [--worker-id ID] [--max-frame N]
    [--concurrency N [--sync-threads N] [--slow-callback SECONDS]] [--module pkg.mod ...]

Serves the requests of PROTOCOL.md on the connected stream socket --fd.
With --concurrency N > 1 it multiplexes (PROTOCOL.md, Concurrency): up to
N calls at once, async handlers as tasks on its event loop; with
--sync-threads M, sync handlers of the --module modules run in up to M
threads (counted against N) instead of inline on the loop's thread; a
turn of the loop longer than --slow-callback seconds (default 0.1, 0:
never) is reported on stderr, and pings are answered meanwhile.
"""

from __future__ import annotations

import sys

from . import DEFAULT_MAX_FRAME, MIN_MAX_FRAME, liveness, max_frame_arg
from .server import DEFAULT_SLOW_CALLBACK, run

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    import argparse
    from typing import Dict, List, Optional

# The flags, for the parse that needs no argparse: name -> (kind, default).
_FLAGS: Dict[str, tuple] = {
    "--fd": ("int", None),
    "--worker-id": ("str", ""),
    "--max-frame": ("frame", DEFAULT_MAX_FRAME),
    "--module": ("append", None),
    "--run-id": ("str", ""),
    "--alive-fd": ("int", None),
    "--concurrency": ("count", 1),
    "--sync-threads": ("int", 0),
    "--slow-callback": ("seconds", DEFAULT_SLOW_CALLBACK),
}


class Args:
    """What the command line asks for: the argparse Namespace's fields."""

    def __init__(self, fd: int, worker_id: str, max_frame: int, module: List[str], run_id: str, alive_fd: Optional[int],
                 concurrency: int = 1, sync_threads: int = 0, slow_callback: float = DEFAULT_SLOW_CALLBACK) -> None:
        self.fd = fd
        self.worker_id = worker_id
        self.max_frame = max_frame
        self.module = module
        self.run_id = run_id
        self.alive_fd = alive_fd
        self.concurrency = concurrency
        self.sync_threads = sync_threads
        self.slow_callback = slow_callback


def _parser() -> argparse.ArgumentParser:
    import argparse  # for --help and for errors: a start the Go side makes never needs it

    parser = argparse.ArgumentParser(prog="pyharness_worker", description=__doc__)
    parser.add_argument("--fd", type=int, required=True, help="file descriptor of a connected stream socket carrying frames")
    parser.add_argument("--worker-id", default="", help="identifier reported by ping")
    parser.add_argument("--max-frame", type=max_frame_arg, default=DEFAULT_MAX_FRAME, help="largest frame payload in bytes")
    parser.add_argument("--module", action="append", default=[], help="module whose handlers to serve (repeatable)")
    parser.add_argument("--run-id", default="", help="marker of the test run that owns this worker (ignored)")
    parser.add_argument("--alive-fd", type=int, default=None, help="file descriptor of a stream socket on which liveness probes are echoed")
    parser.add_argument("--concurrency", type=concurrency_arg, default=1,
                        help="calls served at once (PROTOCOL.md, Concurrency); 1: one at a time")
    parser.add_argument("--sync-threads", type=threads_arg, default=0,
                        help="with --concurrency > 1, threads sync handlers run in (0: inline on the event loop's thread)")
    parser.add_argument("--slow-callback", type=seconds_arg, default=DEFAULT_SLOW_CALLBACK,
                        help="with --concurrency > 1, report a blocked event loop after this many seconds (0: never)")
    return parser


def concurrency_arg(text: str) -> int:
    """--concurrency's value: a positive integer."""
    import argparse

    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"concurrency must be a positive integer, not {text!r}")
    return n


def threads_arg(text: str) -> int:
    """--sync-threads' value: a count, 0 or more."""
    import argparse

    try:
        n = int(text)
    except ValueError:
        n = -1
    if n < 0:
        raise argparse.ArgumentTypeError(f"sync threads must be 0 or a positive integer, not {text!r}")
    return n


def seconds(text: str) -> Optional[float]:
    """text as a finite number of seconds, 0 or more; None if it is not one."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 0 <= value < float("inf") else None


def seconds_arg(text: str) -> float:
    """--slow-callback's value: seconds, 0 or more."""
    import argparse

    value = seconds(text)
    if value is None:
        raise argparse.ArgumentTypeError(f"slow callback must be a number of seconds, 0 or more, not {text!r}")
    return value


def quick_parse(argv: List[str]) -> Optional[Args]:
    """argv parsed as argparse would, when it is the plain shape the Go side
    writes (each flag spelt out, with a value that is valid and does not
    start with "-"); None otherwise, for argparse to parse or to explain."""
    values: Dict[str, object] = {"--module": []}
    i = 0
    while i < len(argv):
        flag, eq, value = argv[i].partition("=")
        spec = _FLAGS.get(flag)
        if spec is None:
            return None
        if not eq:
            if i + 1 >= len(argv):
                return None
            i += 1
            value = argv[i]
        i += 1
        if value.startswith("-"):
            return None
        kind = spec[0]
        if kind == "str":
            values[flag] = value
        elif kind == "append":
            values[flag].append(value)  # type: ignore[attr-defined]
        elif kind == "seconds":
            if not value.replace(".", "", 1).isdigit() or not value.isascii():
                return None
            values[flag] = seconds(value)
        else:
            if not value.isdigit() or not value.isascii():
                return None
            n = int(value)
            if kind == "frame" and n < MIN_MAX_FRAME or kind == "count" and n < 1:
                return None
            values[flag] = n
    if "--fd" not in values:
        return None
    get = values.get
    return Args(get("--fd"), get("--worker-id", ""), get("--max-frame", DEFAULT_MAX_FRAME),  # type: ignore[arg-type]
                get("--module"), get("--run-id", ""), get("--alive-fd"), get("--concurrency", 1),  # type: ignore[arg-type]
                get("--sync-threads", 0), get("--slow-callback", DEFAULT_SLOW_CALLBACK))  # type: ignore[arg-type]


def main(argv: Optional[List[str]] = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    args = quick_parse(argv) or _parser().parse_args(argv)
    if args.alive_fd is not None:
        liveness.start(args.alive_fd)
    from .fdconn import FdConn  # os calls on the descriptor: socket is not imported at start

    sock = FdConn(args.fd)
    return run(sock, args.worker_id, args.max_frame, args.module, concurrency=args.concurrency,
               sync_threads=args.sync_threads, slow_callback=args.slow_callback)


if __name__ == "__main__":
    sys.exit(main())
