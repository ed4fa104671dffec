"""The zygote as a real process: readiness, forks, control requests, owner EOF."""

import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path
from typing import Any

from pyharness_worker.framing import SEGMENT_MIN, read_frame

from .helpers import HEADER

PYTHON_DIR = Path(__file__).resolve().parent.parent
SECRET = "s3cret"


def send(sock: socket.socket, rid: int, method: str, args: Any = None) -> None:
    body = json.dumps({"id": rid, "method": method, "args": args}).encode()
    sock.sendall(HEADER.pack(len(body)) + body)


def recv(sock: socket.socket) -> Any:
    with sock.makefile("rb", buffering=0) as stream:
        return json.loads(read_frame(stream, 1 << 26))


def call(sock: socket.socket, rid: int, method: str, args: Any = None) -> Any:
    send(sock, rid, method, args)
    return recv(sock)


def exits_within(pid: int, seconds: float) -> bool:
    """Wait for a process that is not our child to end (a pidfd becomes readable)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([fd], [], [], seconds)
        return bool(readable)
    finally:
        os.close(fd)


class ZygoteTest(unittest.TestCase):
    def setUp(self) -> None:
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)
        self.path = os.path.join(self.dir.name, "z.sock")
        self.owner, theirs = socket.socketpair()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pyharness_worker.zygote", "--fd", str(theirs.fileno()),
             "--listen", self.path, "--zygote-id", "z1", "--module", "tests.sample_handlers", "--preload", "json"],
            cwd=PYTHON_DIR, pass_fds=[theirs.fileno()], stderr=subprocess.PIPE,
            env={**os.environ, "PYHARNESS_ZYGOTE_SECRET": SECRET},
        )
        theirs.close()
        self.addCleanup(self.proc.stderr.close)
        self.addCleanup(lambda: self.proc.poll() is None and self.proc.kill() or self.proc.wait(10))
        self.addCleanup(self.owner.close)
        hello = call(self.owner, 1, "ping")
        self.assertTrue(hello["ok"], hello)
        self.assertEqual(hello["result"]["pid"], self.proc.pid)

    def fork(self, worker_id: str) -> "tuple[socket.socket, int]":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(sock.close)
        sock.connect(self.path)
        sock.settimeout(5)
        reply = call(sock, 1, "fork", {"worker_id": worker_id, "secret": SECRET})
        self.assertTrue(reply["ok"], reply)
        self.assertEqual(reply["result"]["worker_id"], worker_id)
        return sock, reply["result"]["pid"]

    def test_forked_workers_serve_user_handlers(self) -> None:
        a, pid_a = self.fork("z1.a")
        b, pid_b = self.fork("z1.b")
        self.assertNotIn(self.proc.pid, (pid_a, pid_b))
        self.assertNotEqual(pid_a, pid_b)
        self.assertEqual(call(a, 2, "add", {"a": 1, "b": 2})["result"], 3)
        self.assertEqual(call(b, 2, "ping")["result"]["pid"], pid_b)
        self.assertEqual(os.getpgid(pid_a), pid_a, "a forked worker leads its own process group")
        info = call(self.owner, 2, "info")["result"]
        self.assertEqual(sorted(info["children"]), sorted([pid_a, pid_b]))
        self.assertEqual(info["forked"], 2)

    def test_a_fork_with_a_concurrency_limit_multiplexes(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(sock.close)
        sock.connect(self.path)
        sock.settimeout(5)
        reply = call(sock, 1, "fork", {"worker_id": "z1.m", "secret": SECRET, "concurrency": 3})
        self.assertTrue(reply["ok"], reply)
        self.assertEqual(reply["result"]["concurrency"], 3)
        self.assertIn("multiplex", reply["result"]["features"])
        self.assertNotIn("sync_threads", reply["result"])
        self.assertEqual(reply["result"]["slow_callback"], 0.1)
        plain, _ = self.fork("z1.p")
        self.assertNotIn("multiplex", call(plain, 2, "ping")["result"]["features"])

    def test_a_fork_with_sync_threads_and_a_slow_callback(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(sock.close)
        sock.connect(self.path)
        sock.settimeout(5)
        args = {"worker_id": "z1.t", "secret": SECRET, "concurrency": 4, "sync_threads": 2, "slow_callback": 0.5}
        reply = call(sock, 1, "fork", args)
        self.assertTrue(reply["ok"], reply)
        self.assertEqual((reply["result"]["sync_threads"], reply["result"]["slow_callback"]), (2, 0.5))
        self.assertEqual(call(sock, 2, "info")["result"]["calls"], {"tasks": 0, "threads": 0, "waiting": 0})
        odd = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(odd.close)
        odd.connect(self.path)
        odd.settimeout(5)
        args = {"worker_id": "z1.u", "secret": SECRET, "concurrency": 2, "sync_threads": True, "slow_callback": -1}
        result = call(odd, 1, "fork", args)["result"]
        self.assertNotIn("sync_threads", result)  # not a positive integer: none
        self.assertEqual(result["slow_callback"], 0.1)  # not a number of seconds: the default

    def test_a_fork_that_says_segments_replies_with_them_without_a_ping(self) -> None:
        big = "s" * SEGMENT_MIN
        for args, first in (({"segments": True}, 0), ({}, ord("{"))):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.addCleanup(sock.close)
            sock.connect(self.path)
            sock.settimeout(5)
            reply = call(sock, 1, "fork", {"worker_id": f"z1.s{first}", "secret": SECRET, **args})
            self.assertTrue(reply["ok"], reply)
            send(sock, 2, "echo", big)
            with sock.makefile("rb", buffering=0) as stream:
                payload = read_frame(stream, 1 << 26)
            self.assertEqual(payload[0], first, f"fork args {args}: the first byte of a large reply")

    def test_output_goes_to_descriptors_sent_with_the_fork(self) -> None:
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(sock.close)
        sock.connect(self.path)
        body = json.dumps({"id": 1, "method": "fork", "args": {"worker_id": "z1.out", "secret": SECRET}}).encode()
        socket.send_fds(sock, [HEADER.pack(len(body)) + body], [out_w, err_w])
        os.close(out_w)
        os.close(err_w)
        self.assertTrue(recv(sock)["ok"])
        self.assertEqual(call(sock, 2, "print", {"stdout": "to my pipe", "stderr": "to my err"})["result"], None)
        sock.shutdown(socket.SHUT_WR)
        with os.fdopen(out_r, "rb") as out, os.fdopen(err_r, "rb") as err:
            self.assertEqual(out.read(), b"to my pipe\n")
            self.assertEqual(err.read(), b"to my err\n")

    def test_wait_answers_when_the_child_is_reaped(self) -> None:
        sock, pid = self.fork("z1.c")
        send(self.owner, 5, "wait", {"pid": pid})
        send(sock, 2, "crash", {"code": 6})
        self.assertEqual(recv(self.owner)["result"], {"pid": pid, "code": 6, "signal": 0})

    def test_kill_signals_the_child_group(self) -> None:
        _, pid = self.fork("z1.d")
        self.assertEqual(call(self.owner, 3, "kill", {"pid": pid, "signal": 9})["result"], {"sent": True})
        self.assertEqual(call(self.owner, 4, "wait", {"pid": pid})["result"]["signal"], signal.SIGKILL)

    def test_control_connections_over_the_socket(self) -> None:
        ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(ctl.close)
        ctl.connect(self.path)
        self.assertEqual(call(ctl, 1, "control", {"secret": SECRET})["result"]["pid"], self.proc.pid)
        self.assertEqual(call(ctl, 2, "ping")["result"]["worker_id"], "z1")

    def test_a_silent_connection_does_not_stall_forks(self) -> None:
        silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(silent.close)
        silent.connect(self.path)
        silent.sendall(HEADER.pack(100))  # half a frame, then nothing
        _, pid = self.fork("z1.f")  # answered at once, within the fork's 5 s timeout
        self.assertGreater(pid, 0)

    def test_a_connection_without_the_secret_is_rejected(self) -> None:
        for args in ({"worker_id": "x"}, {"worker_id": "x", "secret": "guess"}):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.addCleanup(sock.close)
            sock.connect(self.path)
            sock.settimeout(5)
            send(sock, 1, "fork", args)
            self.assertEqual(sock.recv(1), b"", "closed without an answer")
        info = call(self.owner, 9, "info")["result"]
        self.assertEqual(info["rejected"], 2)
        self.assertEqual(info["forked"], 0)

    def test_owner_eof_ends_the_zygote_and_its_children(self) -> None:
        _, pid = self.fork("z1.e")
        self.owner.shutdown(socket.SHUT_WR)
        self.assertEqual(self.proc.wait(10), 0)
        self.assertTrue(exits_within(pid, 10), "children die with the zygote")
        self.assertFalse(os.path.exists(self.path), "the socket file is removed")


if __name__ == "__main__":
    unittest.main()


class HostModeTest(unittest.TestCase):
    """--daemon, --idle-exit and imports: the zygote as a warm host kept between runs."""

    def test_a_daemon_prints_its_pid_serves_and_ends_when_idle(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "z.sock")
            out = subprocess.run(
                [sys.executable, "-m", "pyharness_worker.zygote", "--listen", path, "--daemon",
                 "--log", os.path.join(d, "log"), "--idle-exit", "1", "--module", "tests.sample_handlers"],
                cwd=PYTHON_DIR, capture_output=True, timeout=30, check=True,
                env={**os.environ, "PYHARNESS_ZYGOTE_SECRET": SECRET},
            )
            pid = int(out.stdout)
            # Before anything has talked to it: the pid printed leads its
            # own session, as a host is found when its record is unreadable.
            self.assertEqual(os.getsid(pid), pid, "the printed pid leads its session as it is printed")
            ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            ctl.connect(path)
            self.assertEqual(call(ctl, 1, "control", {"secret": SECRET})["result"]["pid"], pid)
            files = call(ctl, 2, "imports")["result"]
            self.assertTrue(any(f[0].endswith("sample_handlers.py") for f in files), files)
            ctl.close()
            self.assertTrue(exits_within(pid, 10), "an idle host ends by itself")

    def test_a_held_host_lives_while_its_holders_do_then_ends_when_detached(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "z.sock")
            record = os.path.join(d, "host.json")
            out = subprocess.run(
                [sys.executable, "-m", "pyharness_worker.zygote", "--listen", path, "--daemon",
                 "--log", os.path.join(d, "log"), "--module", "tests.sample_handlers", "--record", record],
                cwd=PYTHON_DIR, capture_output=True, timeout=30, check=True,
                env={**os.environ, "PYHARNESS_ZYGOTE_SECRET": SECRET},
            )
            pid = int(out.stdout)
            with open(record, "w") as f:  # as StartHost writes it
                json.dump({"pid": pid}, f)
            holder = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
            self.addCleanup(holder.wait)
            self.addCleanup(holder.stdin.close)
            ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            ctl.connect(path)
            self.assertTrue(call(ctl, 1, "control", {"secret": SECRET})["ok"])
            self.assertEqual(call(ctl, 2, "hold", {"pid": holder.pid})["result"], {"held": [holder.pid]})
            bad = call(ctl, 3, "hold", {"pid": "x"})
            self.assertEqual(bad["error"]["kind"], "bad_request")
            ctl.close()
            self.assertFalse(exits_within(pid, 0.3), "a held host outlives its last connection")
            holder.stdin.close()
            holder.wait(10)
            self.assertTrue(exits_within(pid, 10), "the last holder's end ends a host nobody is attached to")
            self.assertFalse(os.path.exists(record), "and its record with it")
