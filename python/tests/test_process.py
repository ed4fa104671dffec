"""The worker as a real process: start-up failures, signals, crashes."""

import json
import signal
import socket
import subprocess
import sys
import unittest
from pathlib import Path
from typing import Any, List, Tuple

from pyharness_worker.framing import read_frame

from .helpers import HEADER

PYTHON_DIR = Path(__file__).resolve().parent.parent


def start(*extra: str) -> Tuple[subprocess.Popen, socket.socket]:
    ours, theirs = socket.socketpair()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pyharness_worker", "--fd", str(theirs.fileno()), *extra],
        cwd=PYTHON_DIR,
        pass_fds=[theirs.fileno()],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    theirs.close()
    return proc, ours


def call(sock: socket.socket, rid: int, method: str, args: Any = None) -> Any:
    body = json.dumps({"id": rid, "method": method, "args": args}).encode()
    sock.sendall(HEADER.pack(len(body)) + body)
    with sock.makefile("rb") as stream:
        return json.loads(read_frame(stream, 1 << 26))


class ProcessTest(unittest.TestCase):
    def run_worker(self, *extra: str) -> Tuple[subprocess.Popen, socket.socket]:
        proc, sock = start(*extra)
        self.addCleanup(sock.close)
        self.addCleanup(proc.wait, 10)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        self.addCleanup(proc.stdout.close)
        self.addCleanup(proc.stderr.close)
        return proc, sock

    def test_sigterm_ends_cleanly(self) -> None:
        proc, sock = self.run_worker()
        self.assertTrue(call(sock, 1, "ping")["ok"])
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(10), 0)

    def test_eof_ends_cleanly(self) -> None:
        proc, sock = self.run_worker()
        self.assertTrue(call(sock, 1, "ping")["ok"])
        sock.shutdown(socket.SHUT_WR)
        self.assertEqual(proc.wait(10), 0)

    def test_crash_exit_code_and_stderr(self) -> None:
        proc, sock = self.run_worker()
        body = json.dumps({"id": 1, "method": "crash", "args": {"code": 7, "stderr": "dying"}}).encode()
        sock.sendall(HEADER.pack(len(body)) + body)
        self.assertEqual(proc.wait(10), 7)
        self.assertIn(b"dying", proc.stderr.read())
        self.assertEqual(sock.recv(1), b"", "no reply after a crash")

    def test_crash_by_signal(self) -> None:
        proc, sock = self.run_worker()
        body = json.dumps({"id": 1, "method": "crash", "args": {"signal": "KILL"}}).encode()
        sock.sendall(HEADER.pack(len(body)) + body)
        self.assertEqual(proc.wait(10), -signal.SIGKILL)

    def test_print_goes_to_stdout_not_the_channel(self) -> None:
        proc, sock = self.run_worker()
        reply = call(sock, 1, "print", {"stdout": "hello out"})
        self.assertEqual(reply["result"], None)
        sock.shutdown(socket.SHUT_WR)
        self.assertEqual(proc.wait(10), 0)
        self.assertEqual(proc.stdout.read(), b"hello out\n")

    def test_bad_module_fails_start_with_exit_2(self) -> None:
        proc, _ = self.run_worker("--module", "no_such_module_xyz")
        self.assertEqual(proc.wait(10), 2)
        self.assertIn(b"No module named 'no_such_module_xyz'", proc.stderr.read())

    def test_a_descriptor_not_open_fails_start_with_exit_2_and_one_traceback(self) -> None:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pyharness_worker", "--fd", "97"],
            cwd=PYTHON_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self.addCleanup(proc.stdout.close)
        self.addCleanup(proc.stderr.close)
        _, err = proc.communicate(timeout=10)
        self.assertEqual(proc.returncode, 2)
        self.assertIn(b"Bad file descriptor", err)
        self.assertNotIn(b"During handling of the above exception", err, "closing the broken connection does not bury the cause")


if __name__ == "__main__":
    unittest.main()
