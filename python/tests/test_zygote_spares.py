"""Spares: workers a warm host keeps forked for the next run's fork requests."""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
from types import SimpleNamespace
from typing import Any, Dict, List

from pyharness_worker import zygote

from .helpers import HEADER
from .test_zygote import PYTHON_DIR, SECRET, call, exits_within, recv


class FakeChecker:
    def __init__(self, safe: bool) -> None:
        self.safe = safe

    def verdict(self) -> Any:
        return SimpleNamespace(safe=self.safe, detail="a thread")


def quiet_zygote(safe: bool = True) -> "tuple[zygote.Zygote, List[int]]":
    """A Zygote object whose fork_spare only counts: the policy alone."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    z = zygote.Zygote(listener, None, "z", 1 << 20, [], [], "unix:x", secret="s", checker=FakeChecker(safe))
    forked: List[int] = []

    def fork_spare() -> bool:
        pid = 10000 + len(forked)
        forked.append(pid)
        z.spares[pid] = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        return True

    z.fork_spare = fork_spare  # type: ignore[method-assign]
    z.kill_spare = lambda pid: None  # type: ignore[method-assign]
    return z, forked


class SparePolicyTest(unittest.TestCase):
    def test_after_a_quiet_spell_as_many_spares_as_requests_served_at_most_the_cap(self) -> None:
        z, forked = quiet_zygote()
        self.addCleanup(z.stop_spares)
        z.spare_cap = 3
        self.assertIsNone(z.tend_spares(), "nothing served yet: no spare, no wait")
        z.served = 2
        wait = z.tend_spares()
        self.assertIsNotNone(wait, "quiet for less than SPARE_SETTLE: not yet")
        self.assertEqual(forked, [])
        z.quiet_since = time.monotonic() - zygote.SPARE_SETTLE
        self.assertIsNone(z.tend_spares())
        self.assertEqual((len(forked), z.spare_target, z.served), (2, 2, 0))
        z.served = 7
        z.quiet_since = time.monotonic() - zygote.SPARE_SETTLE
        z.tend_spares()
        self.assertEqual((len(z.spares), z.spare_target), (3, 3), "the cap bounds them")
        z.served = 1
        z.quiet_since = time.monotonic() - zygote.SPARE_SETTLE
        z.tend_spares()
        self.assertEqual(len(z.spares), 1, "a run that took fewer: the extra spares go")

    def test_no_spare_while_busy_or_while_forking_is_unsafe(self) -> None:
        z, forked = quiet_zygote()
        self.addCleanup(z.stop_spares)
        z.spare_cap = 4
        z.served = 2
        z.children[123] = "w"  # a run's worker still serves
        z.quiet_since = time.monotonic() - 10
        self.assertIsNone(z.tend_spares())
        self.assertIsNone(z.quiet_since, "busy: the quiet spell starts over")
        self.assertEqual(forked, [])
        unsafe, none = quiet_zygote(safe=False)
        unsafe.spare_cap, unsafe.served, unsafe.quiet_since = 4, 2, time.monotonic() - 10
        unsafe.tend_spares()
        self.assertEqual(none, [], "a fork-safety check that would refuse forks no spare")

    def test_a_request_refused_as_fork_unsafe_takes_no_spare(self) -> None:
        z, _ = quiet_zygote()
        self.addCleanup(z.stop_spares)
        z.spare_cap, z.served, z.quiet_since = 2, 2, time.monotonic() - 10
        z.tend_spares()
        spares = sorted(z.spares)
        z.checker = FakeChecker(safe=False)  # a thread started since
        ours, theirs = socket.socketpair()
        self.addCleanup(ours.close)
        z._accepted(zygote.Conn(theirs, 1 << 20), {"id": 1, "method": "fork", "args": {"worker_id": "w"}}, [])
        reply = recv(ours)
        self.assertEqual(reply["error"]["type"], "ForkUnsafe", reply)
        self.assertEqual(sorted(z.spares), spares, "the spares forked while it was safe are not handed out")
        self.assertEqual(z.from_spares, 0)

    def test_without_spares_the_zygote_forks_none(self) -> None:
        z, forked = quiet_zygote()
        z.served, z.quiet_since = 5, time.monotonic() - 10
        self.assertIsNone(z.tend_spares())
        self.assertEqual(forked, [])


def info(ctl: socket.socket, rid: int) -> Dict[str, Any]:
    reply = call(ctl, rid, "info")
    assert reply["ok"], reply
    return reply["result"]


class SpareHostTest(unittest.TestCase):
    """A real host with --spares: requests after a quiet spell take spares."""

    def setUp(self) -> None:
        d = tempfile.TemporaryDirectory()
        self.addCleanup(d.cleanup)
        self.path = os.path.join(d.name, "z.sock")
        out = subprocess.run(
            [sys.executable, "-m", "pyharness_worker.zygote", "--listen", self.path, "--daemon", "--log", os.path.join(d.name, "log"),
             "--spares", "4", "--module", "tests.sample_handlers"],
            cwd=PYTHON_DIR, capture_output=True, timeout=30, check=True, env={**os.environ, "PYHARNESS_ZYGOTE_SECRET": SECRET},
        )
        self.pid = int(out.stdout)
        self.addCleanup(lambda: exits_within(self.pid, 0) or os.kill(self.pid, signal.SIGKILL))
        self.rid = 1

    def control(self) -> socket.socket:
        ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        ctl.connect(self.path)
        ctl.settimeout(10)
        self.assertTrue(call(ctl, 1, "control", {"secret": SECRET})["ok"])
        return ctl

    def fork(self, worker_id: str, fds: List[int] = ()) -> "tuple[socket.socket, Dict[str, Any]]":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(sock.close)
        sock.connect(self.path)
        sock.settimeout(10)
        body = json.dumps({"id": 1, "method": "fork", "args": {"worker_id": worker_id, "secret": SECRET, "owner_pid": os.getpid()}}).encode()
        socket.send_fds(sock, [HEADER.pack(len(body)) + body], list(fds))
        reply = recv(sock)
        self.assertTrue(reply["ok"], reply)
        return sock, reply["result"]

    def spares_ready(self, n: int) -> List[int]:
        """Poll the host's info until n spares are forked (the host forks
        them on its own once quiet: polling is the only way to see it)."""
        deadline = time.monotonic() + 10
        while True:
            ctl = self.control()
            got = info(ctl, 2)
            ctl.close()
            if len(got["spares"]) == n or time.monotonic() > deadline:
                self.assertEqual(len(got["spares"]), n, got)
                return got["spares"]
            time.sleep(zygote.SPARE_SETTLE * 2)  # more than the settle: the poll's own connection makes it busy

    def test_the_next_run_takes_spares_that_serve_as_forked_workers(self) -> None:
        first = [self.fork(f"run1.{i}") for i in range(2)]
        for sock, _ in first:
            sock.close()
        for _, hello in first:
            self.assertTrue(exits_within(hello["pid"], 10))
        spares = self.spares_ready(2)
        for pid in spares:
            self.assertEqual(os.getpgid(pid), os.getpgid(self.pid), "a spare stays in the host's group until it serves")
            with open(f"/proc/{pid}/comm") as f:
                self.assertEqual(f.read().strip(), "pyh:spare", "a spare is nobody's fork: no leak check counts it")

        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        sock, hello = self.fork("run2.a", [out_w, err_w])
        os.close(out_w)
        os.close(err_w)
        self.assertIn(hello["pid"], spares)
        self.assertEqual(hello["worker_id"], "run2.a")
        pid = hello["pid"]
        self.assertEqual(os.getpgid(pid), pid, "once it serves, it leads its own process group as a forked worker does")
        with open(f"/proc/{pid}/comm") as f:
            self.assertEqual(f.read().strip(), f"pyh:{os.getpid()}", "named after its requester, as a forked worker is")
        self.assertEqual(call(sock, 2, "add", {"a": 2, "b": 3})["result"], 5)
        self.assertEqual(call(sock, 3, "print", {"stdout": "out", "stderr": "err"})["result"], None)
        ctl = self.control()
        got = info(ctl, 2)
        self.assertIn(pid, got["children"])
        self.assertNotIn(pid, got["spares"])
        self.assertEqual(got["from_spares"], 1)
        sock.shutdown(socket.SHUT_WR)
        with os.fdopen(out_r, "rb") as out, os.fdopen(err_r, "rb") as err:
            self.assertEqual((out.read(), err.read()), (b"out\n", b"err\n"), "its output goes to the descriptors of the request")
        ctl.close()

    def test_spares_die_with_the_host(self) -> None:
        sock, hello = self.fork("run1.a")
        sock.close()
        self.assertTrue(exits_within(hello["pid"], 10))
        spares = self.spares_ready(1)
        os.kill(self.pid, signal.SIGKILL)
        self.assertTrue(exits_within(self.pid, 10))
        for pid in spares:
            self.assertTrue(exits_within(pid, 10), "a spare ends with its host")

    def test_shutdown_kills_the_spares(self) -> None:
        sock, hello = self.fork("run1.a")
        sock.close()
        self.assertTrue(exits_within(hello["pid"], 10))
        spares = self.spares_ready(1)
        ctl = self.control()
        self.assertTrue(call(ctl, 2, "shutdown")["ok"])
        ctl.close()
        self.assertTrue(exits_within(self.pid, 10))
        for pid in spares:
            self.assertTrue(exits_within(pid, 10))


class SpareIdleTest(unittest.TestCase):
    def test_spares_keep_no_host_from_its_idle_exit_and_end_with_it(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "z.sock")
            out = subprocess.run(
                [sys.executable, "-m", "pyharness_worker.zygote", "--listen", path, "--daemon", "--log", os.path.join(d, "log"),
                 "--spares", "2", "--idle-exit", "1", "--module", "tests.sample_handlers"],
                cwd=PYTHON_DIR, capture_output=True, timeout=30, check=True, env={**os.environ, "PYHARNESS_ZYGOTE_SECRET": SECRET},
            )
            pid = int(out.stdout)
            self.addCleanup(lambda: exits_within(pid, 0) or os.kill(pid, signal.SIGKILL))
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(path)
            sock.settimeout(10)
            reply = call(sock, 1, "fork", {"worker_id": "w", "secret": SECRET})
            self.assertTrue(reply["ok"], reply)
            sock.close()
            self.assertTrue(exits_within(reply["result"]["pid"], 10))
            deadline = time.monotonic() + 10
            spares: List[int] = []
            while not spares and time.monotonic() < deadline:  # the host forks it on its own once quiet: polling is the only way
                time.sleep(zygote.SPARE_SETTLE * 2)
                ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                ctl.connect(path)
                ctl.settimeout(10)
                call(ctl, 1, "control", {"secret": SECRET})
                spares = info(ctl, 2)["spares"]
                ctl.close()
            self.assertEqual(len(spares), 1)
            self.assertTrue(exits_within(pid, 10), "a host with spares and nobody attached still ends when idle")
            self.assertTrue(exits_within(spares[0], 10), "and its spare with it")


if __name__ == "__main__":
    unittest.main()
