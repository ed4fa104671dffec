"""Liveness: a thread that echoes bytes on a socket of its own.

The Go side's health check writes a byte and waits for it to come back. The
thread answers while a handler runs Python code (the interpreter switches
threads every few milliseconds), so a slow handler is not taken for a stuck
worker; it cannot answer when the process is stopped (SIGSTOP) or stuck in C
code that holds the GIL, which is what the health check is for.

The thread is a bare _thread one (what threading builds on, without its
import at every start): like a daemon thread, it does not keep the process
alive, and threading.enumerate() does not list it.
"""

from __future__ import annotations

import _thread
import os

from .fdconn import FdConn

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start
if TYPE_CHECKING:  # pragma: no cover
    from typing import Optional


class Echo:
    """The echoing thread: running until the socket's EOF (or an error)."""

    __slots__ = ("_running",)

    def __init__(self) -> None:
        self._running = _thread.allocate_lock()
        self._running.acquire()  # released by the thread as it ends

    def is_alive(self) -> bool:
        return self._running.locked()

    def join(self, timeout: Optional[float] = None) -> None:
        """Wait for the thread to end, at most timeout seconds."""
        if self._running.acquire(timeout=-1 if timeout is None else timeout):
            self._running.release()


def _echo(fd: int, echo: Echo) -> None:
    conn = FdConn(fd)
    try:
        while True:
            data = os.read(fd, 64)
            if not data:
                return
            conn.sendall(data)
    except OSError:
        return
    finally:
        conn.close()
        echo._running.release()


def start(fd: int) -> Echo:
    """Echo on the stream socket fd (which it then owns), on a thread of its
    own, until EOF; through FdConn, as the connection: socket is not
    imported at start."""
    echo = Echo()
    _thread.start_new_thread(_echo, (fd, echo))
    return echo
