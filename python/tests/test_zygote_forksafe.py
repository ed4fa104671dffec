"""The zygote refuses a fork that would hang, and spawns in its place."""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path
from typing import Any, Dict, List

from .test_zygote import SECRET, call, recv, send

PYTHON_DIR = Path(__file__).resolve().parent.parent


class UnsafeZygoteTest(unittest.TestCase):
    modules: List[str] = ["tests.thread_handlers"]

    def setUp(self) -> None:
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)
        self.path = os.path.join(self.dir.name, "z.sock")
        self.owner, theirs = socket.socketpair()
        args = [sys.executable, "-m", "pyharness_worker.zygote", "--fd", str(theirs.fileno()), "--listen", self.path, "--zygote-id", "z1"]
        for m in self.modules:
            args += ["--module", m]
        self.proc = subprocess.Popen(args, cwd=PYTHON_DIR, pass_fds=[theirs.fileno()], stderr=subprocess.PIPE,
                                     env={**os.environ, "PYHARNESS_ZYGOTE_SECRET": SECRET, "PYTHONPATH": str(PYTHON_DIR)})
        theirs.close()
        self.addCleanup(self.proc.stderr.close)
        self.addCleanup(lambda: self.proc.poll() is None and self.proc.kill() or self.proc.wait(10))
        self.addCleanup(self.owner.close)
        self.assertTrue(call(self.owner, 1, "ping")["ok"])

    def request(self, args: Dict[str, Any]) -> "tuple[socket.socket, Dict[str, Any]]":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(sock.close)
        sock.connect(self.path)
        sock.settimeout(30)
        return sock, call(sock, 1, "fork", {"secret": SECRET, **args})

    def test_fork_safety_names_the_cause(self) -> None:
        v = call(self.owner, 2, "fork_safety")["result"]
        self.assertFalse(v["safe"])
        self.assertEqual((v["library"], v["module"], v["started_by"]), ("threading", "tests.thread_handlers", "tests.thread_handlers"))

    def test_a_fork_is_refused_with_the_cause(self) -> None:
        _, reply = self.request({"worker_id": "z1.a"})
        self.assertFalse(reply["ok"])
        self.assertEqual(reply["error"]["type"], "ForkUnsafe")
        self.assertIn("background-poller", reply["error"]["message"])
        self.assertEqual(call(self.owner, 2, "info")["result"]["children"], [], "nothing was forked")

    def test_spawn_mode_starts_a_fresh_interpreter_served_as_a_fork(self) -> None:
        sock, reply = self.request({"worker_id": "z1.s", "mode": "spawn", "owner_pid": os.getpid()})
        self.assertTrue(reply["ok"], reply)
        pid = reply["result"]["pid"]
        self.assertEqual(reply["result"]["worker_id"], "z1.s")
        self.assertEqual(call(sock, 2, "add", {"a": 2, "b": 3})["result"], 5)
        self.assertEqual(os.getpgid(pid), pid, "it leads its own process group")
        with open(f"/proc/{pid}/stat") as f:
            self.assertEqual(int(f.read().rsplit(")", 1)[1].split()[1]), self.proc.pid, "the zygote's child")
        with open(f"/proc/{pid}/comm") as f:
            self.assertEqual(f.read().strip(), f"pyh:{os.getpid()}", "named for its owner, as a fork is")
        info = call(self.owner, 3, "info")["result"]
        self.assertEqual((info["children"], info["spawned"]), ([pid], 1))
        send(self.owner, 4, "wait", {"pid": pid})
        send(sock, 3, "crash", {"code": 7})
        self.assertEqual(recv(self.owner)["result"], {"pid": pid, "code": 7, "signal": 0})

    def test_spawn_mode_keeps_the_concurrency_limit(self) -> None:
        sock, reply = self.request({"worker_id": "z1.c", "mode": "spawn", "concurrency": 5, "sync_threads": 3, "slow_callback": 0})
        self.assertTrue(reply["ok"], reply)
        self.assertEqual((reply["result"]["concurrency"], reply["result"]["sync_threads"]), (5, 3))
        self.assertNotIn("slow_callback", reply["result"])  # 0: no report
        self.assertIn("multiplex", call(sock, 2, "ping")["result"]["features"])

    def test_spawned_output_goes_to_the_descriptors_sent(self) -> None:
        import json

        from .helpers import HEADER

        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(sock.close)
        sock.connect(self.path)
        body = json.dumps({"id": 1, "method": "fork", "args": {"worker_id": "z1.o", "secret": SECRET, "mode": "spawn"}}).encode()
        socket.send_fds(sock, [HEADER.pack(len(body)) + body], [out_w, err_w])
        os.close(out_w)
        os.close(err_w)
        self.assertTrue(recv(sock)["ok"])
        self.assertEqual(call(self.owner, 2, "info")["result"].get("spawned"), 1, "spawned, not forked")
        self.assertIsNone(call(sock, 2, "print", {"stdout": "spawned out", "stderr": "spawned err"})["result"])
        sock.shutdown(socket.SHUT_WR)
        with os.fdopen(out_r, "rb") as out, os.fdopen(err_r, "rb") as err:
            self.assertEqual(out.read(), b"spawned out\n")
            self.assertIn(b"spawned err\n", err.read())

    def test_unchecked_mode_forks_anyway(self) -> None:
        _, refused = self.request({"worker_id": "z1.r"})
        sock, reply = self.request({"worker_id": "z1.u", "mode": "unchecked"})
        self.assertTrue(reply["ok"], reply)
        self.assertEqual(call(sock, 2, "add", {"a": 1, "b": 1})["result"], 2)
        self.assertEqual(call(self.owner, 3, "info")["result"].get("spawned"), 0, "forked, not spawned")
        self.assertEqual(refused["ok"], self.modules == ["tests.sample_handlers"], "a plain fork of the same zygote is refused unless it is safe")
        call(self.owner, 4, "kill", {"pid": reply["result"]["pid"], "signal": signal.SIGKILL})


class SafeZygoteTest(UnsafeZygoteTest):
    modules = ["tests.sample_handlers"]

    def test_fork_safety_names_the_cause(self) -> None:
        self.assertTrue(call(self.owner, 2, "fork_safety")["result"]["safe"])

    def test_a_fork_is_refused_with_the_cause(self) -> None:
        sock, reply = self.request({"worker_id": "z1.a"})
        self.assertTrue(reply["ok"], "a single-threaded zygote forks")
        self.assertEqual(call(sock, 2, "add", {"a": 1, "b": 2})["result"], 3)
        self.assertEqual(call(self.owner, 3, "info")["result"].get("spawned"), 0, "forked, not spawned")

    test_spawned_output_goes_to_the_descriptors_sent = None  # type: ignore[assignment]


if __name__ == "__main__":
    unittest.main()
