"""The worker's connection as a bare descriptor: a connected stream socket
read and written with os calls.

A spawned worker is handed its connection as a descriptor (--fd). Wrapping
it in socket.socket would import socket, and enum, selectors and the rest
with it: several milliseconds of every start (python/tests/
test_start_imports.py). The worker only writes whole frames, polls and
closes, which os does as well. A forked worker gets a real socket from the
zygote (which imports socket anyway); both offer what the worker uses:
fileno, sendall, setblocking and close.
"""

from __future__ import annotations

import os


class FdConn:
    """A connected stream socket's descriptor, owned: close closes it."""

    __slots__ = ("_fd",)

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def fileno(self) -> int:
        return self._fd

    def sendall(self, data: bytes) -> None:
        """Write all of data (os.write retries on EINTR; a short write goes on
        from where it stopped); OSError when the peer is gone."""
        n = os.write(self._fd, data)
        if n == len(data):
            return
        view = memoryview(data)[n:]
        while view:
            n = os.write(self._fd, view)
            view = view[n:]

    def setblocking(self, flag: bool) -> None:
        os.set_blocking(self._fd, flag)

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)
