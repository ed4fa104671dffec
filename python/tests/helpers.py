"""Shared helpers: a worker served on a thread over a socketpair."""

import json
import socket
import struct
import threading
from typing import Any, List, Optional

from pyharness_worker.framing import read_frame
from pyharness_worker.server import Worker

HEADER = struct.Struct(">I")


class ThreadedWorker:
    """A Worker serving one end of a socketpair on a thread; the test drives the other end."""

    def __init__(self, modules: List[str] = (), max_frame: int = 1 << 20, concurrency: int = 1, **options: Any) -> None:
        self.client, server = socket.socketpair()
        self.rfile = self.client.makefile("rb")
        self.worker = Worker(server, worker_id="t1", max_frame=max_frame, modules=modules, concurrency=concurrency, **options)
        self.exit_code: Optional[int] = None
        self._server = server
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._next = 0

    def _run(self) -> None:
        try:
            self.exit_code = self.worker.serve()
        finally:
            self.worker.close()

    def send_raw(self, data: bytes) -> None:
        self.client.sendall(data)

    def send(self, doc: Any) -> None:
        body = json.dumps(doc).encode()
        self.send_raw(HEADER.pack(len(body)) + body)

    def recv_raw(self) -> bytes:
        return read_frame(self.rfile, 1 << 30)

    def recv(self) -> Any:
        return json.loads(self.recv_raw())

    def call(self, method: str, args: Any = None, **extra: Any) -> Any:
        self._next += 1
        self.send({"id": self._next, "method": method, "args": args, **extra})
        reply = self.recv()
        assert reply["id"] == self._next, reply
        return reply

    def call_raw(self, body: str) -> Any:
        """Send body as one frame and return the decoded reply."""
        data = body.encode()
        self.send_raw(HEADER.pack(len(data)) + data)
        return self.recv()

    def close(self) -> int:
        if self._thread.is_alive():
            self.client.shutdown(socket.SHUT_WR)
        self._thread.join(timeout=10)
        assert not self._thread.is_alive(), "worker did not stop at EOF"
        self.rfile.close()
        self.client.close()
        assert self.exit_code is not None
        return self.exit_code
