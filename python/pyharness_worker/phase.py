"""Where a start is, for the Go side to name when the start times out.

The Go side names a file in PYHARNESS_START_PHASE; each step of a start
appends a line to it: "worker import" (the package is being imported: the
interpreter's own start-up, site and sitecustomize, is over), "handlers
import: MODULE", "preload import: MODULE", "ready". A start that never
writes a line never reached the worker. Nothing is written without the
variable (a forked worker, a test).
"""

import os

ENV = "PYHARNESS_START_PHASE"
_path = os.environ.pop(ENV, "")  # not for handlers, nor for forked workers


def mark(phase: str) -> None:
    """Append phase to the start's phase file, if there is one."""
    if not _path:
        return
    try:
        fd = os.open(_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, phase.encode("utf-8", "backslashreplace") + b"\n")
        finally:
            os.close(fd)
    except OSError:  # the Go side gave up on the start and removed it
        pass


def done() -> None:
    """The start is over: later marks go nowhere."""
    global _path
    _path = ""
