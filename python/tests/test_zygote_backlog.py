"""The zygote under a burst of connections: its listen backlog holds a full
machine of test binaries, and silent connections cost the others nothing."""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import unittest

from .test_zygote import PYTHON_DIR, SECRET, call

BURST = 300  # beyond the old backlog of 128


class ZygoteBacklogTest(unittest.TestCase):
    def setUp(self) -> None:
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)
        self.path = os.path.join(self.dir.name, "z.sock")
        self.owner, theirs = socket.socketpair()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pyharness_worker.zygote", "--fd", str(theirs.fileno()),
             "--listen", self.path, "--zygote-id", "zb", "--module", "tests.sample_handlers"],
            cwd=PYTHON_DIR, pass_fds=[theirs.fileno()], stderr=subprocess.DEVNULL,
            env={**os.environ, "PYHARNESS_ZYGOTE_SECRET": SECRET},
        )
        theirs.close()
        self.addCleanup(lambda: self.proc.poll() is None and self.proc.kill() or self.proc.wait(10))
        self.addCleanup(self.owner.close)
        self.assertTrue(call(self.owner, 1, "ping")["ok"])

    def connect(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(sock.close)
        sock.setblocking(False)
        sock.connect(self.path)  # BlockingIOError when the backlog is full
        sock.setblocking(True)
        sock.settimeout(10)
        return sock

    def test_a_burst_beyond_128_waits_in_the_backlog_and_every_connection_is_served(self) -> None:
        os.kill(self.proc.pid, signal.SIGSTOP)  # accepts nothing: every connect waits in the backlog
        try:
            socks = []
            for i in range(BURST):
                try:
                    socks.append(self.connect())
                except BlockingIOError:
                    self.fail(f"connect {i + 1} of {BURST} refused: the listen backlog is full")
        finally:
            os.kill(self.proc.pid, signal.SIGCONT)
        for i, sock in enumerate(socks):
            reply = call(sock, 1, "control", {"secret": SECRET})
            self.assertTrue(reply["ok"], f"connection {i + 1}: {reply}")

    def test_silent_connections_cost_the_others_nothing(self) -> None:
        silent = [self.connect() for _ in range(BURST)]
        for i in range(BURST):
            reply = call(self.connect(), 1, "control", {"secret": SECRET})
            self.assertTrue(reply["ok"], f"control {i + 1} with {len(silent)} silent connections open: {reply}")


if __name__ == "__main__":
    unittest.main()
