"""What `state` counts as imported: the handlers' imports, never the worker's
own lazy ones (traceback formatting, asyncio, its own package)."""

import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import unittest
from typing import Any, Dict, List

from pyharness_worker.framing import read_frame

from .helpers import HEADER
from .test_process import PYTHON_DIR, start

MODULE = "tests.import_handlers"


class Conn:
    """The Go side of one worker connection."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.rfile = sock.makefile("rb")
        self.next = 0

    def send(self, doc: Dict[str, Any]) -> None:
        body = json.dumps(doc).encode()
        self.sock.sendall(HEADER.pack(len(body)) + body)

    def recv(self) -> Any:
        return json.loads(read_frame(self.rfile, 1 << 26))

    def call(self, method: str, args: Any = None, **extra: Any) -> Any:
        self.next += 1
        self.send({"id": self.next, "method": method, "args": args, **extra})
        return self.recv()

    def stream(self, method: str, args: Any, take: int = 100) -> List[Any]:
        """Items of a stream call, then its final reply, last."""
        self.next += 1
        self.send({"id": self.next, "method": method, "args": args, "stream": take})
        out = []
        while True:
            doc = self.recv()
            out.append(doc)
            if "item" not in doc:
                return out

    def state(self) -> Dict[str, Any]:
        reply = self.call("state")
        assert reply["ok"], reply
        return reply["result"]


class SpawnedWorkerTest(unittest.TestCase):
    def setUp(self) -> None:
        proc, sock = start("--module", MODULE, "--worker-id", "w-imports")
        self.addCleanup(lambda: proc.poll() is None and proc.kill() or proc.wait(10))
        self.addCleanup(proc.stderr.close)
        self.addCleanup(proc.stdout.close)
        self.addCleanup(sock.close)
        self.proc = proc
        self.w = Conn(sock)
        self.addCleanup(self.w.rfile.close)

    def fresh(self, *candidates: str) -> str:
        """One of candidates that the worker has not loaded yet."""
        loaded = set(self.w.state()["modules"])
        for name in candidates:
            if name not in loaded:
                return name
        self.skipTest(f"the worker already loaded every one of {candidates}")

    def test_a_fresh_worker_reports_nothing_imported_and_who_it_is(self) -> None:
        state = self.w.state()
        self.assertEqual(state["imported"], [])
        self.assertEqual(state["pid"], self.proc.pid)
        self.assertEqual(state["worker_id"], "w-imports")
        self.assertIn(MODULE, state["modules"], "modules stays the whole of sys.modules")

    def test_a_handler_that_raises_imports_nothing_though_the_traceback_does(self) -> None:
        before = self.w.state()
        reply = self.w.call("boom", "once")
        self.assertEqual(reply["error"]["type"], "ValueError")
        self.assertIn("raise ValueError(message)", reply["error"]["traceback"])
        after = self.w.state()
        self.assertEqual(after["imported"], [])
        # What formatting the traceback loaded (ast, _ast on 3.11) is in sys.modules, but not counted.
        for name in set(after["modules"]) - set(before["modules"]):
            self.assertNotIn(name, after["imported"])

    def test_a_module_a_handler_imports_is_counted(self) -> None:
        name = self.fresh("colorsys", "graphlib", "wave")
        self.assertEqual(self.w.call("load", [name])["result"], [name])
        self.assertEqual(self.w.state()["imported"], [name])
        self.w.call("boom", "then a raise")
        self.assertEqual(self.w.state()["imported"], [name], "the traceback's imports still are not")

    def test_an_async_handler_counts_its_imports_not_the_event_loop(self) -> None:
        self.assertEqual(self.w.call("nothing_async")["result"], None)
        self.assertEqual(self.w.state()["imported"], [], "asyncio, loaded for the event loop, is the worker's")
        name = self.fresh("colorsys", "graphlib", "wave")
        self.assertEqual(self.w.call("load_async", [name])["result"], [name])
        self.assertEqual(self.w.state()["imported"], [name])

    def test_a_stream_counts_what_it_imports_between_items(self) -> None:
        name = self.fresh("colorsys", "graphlib", "wave")
        frames = self.w.stream("load_in_stream", [name])
        self.assertEqual([f["item"] for f in frames[:-1]], ["first, before any import", name])
        self.assertEqual(frames[-1]["result"], {"items": 2})
        self.assertEqual(self.w.state()["imported"], [name])

    def test_a_stream_closed_early_counts_what_its_finally_imports(self) -> None:
        name = self.fresh("colorsys", "graphlib", "wave")
        self.w.next += 1
        rid = self.w.next
        self.w.send({"id": rid, "method": "load_when_closed", "args": [name], "stream": 1})
        self.assertEqual(self.w.recv(), {"id": rid, "item": 1})
        self.w.send({"id": rid, "method": "$cancel"})
        self.assertEqual(self.w.recv()["error"]["kind"], "cancelled")
        self.assertEqual(self.w.state()["imported"], [name])

    def test_the_worker_package_is_never_counted(self) -> None:
        self.assertNotIn("pyharness_worker.bare_echo", self.w.state()["modules"])
        self.assertTrue(self.w.call("load", ["pyharness_worker.bare_echo"])["ok"])
        self.assertEqual(self.w.state()["imported"], [])


class ForkedWorkerTest(unittest.TestCase):
    """A fork starts with nothing counted, whatever the zygote imported."""

    def test_a_fork_counts_only_its_own_handlers_imports(self) -> None:
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        path = os.path.join(tmp.name, "z.sock")
        owner, theirs = socket.socketpair()
        proc = subprocess.Popen(
            [sys.executable, "-m", "pyharness_worker.zygote", "--fd", str(theirs.fileno()), "--listen", path,
             "--module", MODULE, "--preload", "colorsys"],
            cwd=PYTHON_DIR, pass_fds=[theirs.fileno()], stderr=subprocess.PIPE,
        )
        theirs.close()
        self.addCleanup(proc.stderr.close)
        self.addCleanup(lambda: proc.poll() is None and proc.kill() or proc.wait(10))
        self.addCleanup(owner.close)
        self.assertTrue(Conn(owner).call("ping")["ok"])
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(sock.close)
        sock.connect(path)
        sock.settimeout(10)
        w = Conn(sock)
        self.addCleanup(w.rfile.close)
        forked = w.call("fork", {"worker_id": "z.1"})
        self.assertTrue(forked["ok"], forked)
        w.call("boom", "once")
        state = w.state()
        self.assertEqual((state["pid"], state["worker_id"]), (forked["result"]["pid"], "z.1"))
        self.assertIn("colorsys", state["modules"], "preloaded by the zygote")
        self.assertEqual(state["imported"], [])
        self.assertEqual(w.call("load", ["colorsys"])["result"], ["colorsys"])
        self.assertEqual(w.state()["imported"], [], "already loaded: importing it again changes nothing")


class StartFailureTest(unittest.TestCase):
    """A module named at start that cannot be imported: which one, and the
    error at the user's file:line, as lines, the harness's frames cut."""

    def setUp(self) -> None:
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.dir = tmp.name
        with open(os.path.join(self.dir, "bad_syntax.py"), "w") as f:
            f.write("def ok(args):\n    return 1\n\n\ndef broken(args)\n    return 2\n")
        with open(os.path.join(self.dir, "bad_top.py"), "w") as f:
            f.write(textwrap.dedent("""\
                LIMIT = 3


                def compute():
                    return LIMIT / 0


                VALUE = compute()
                """))

    def run_failing(self, module: str, *args: str) -> List[str]:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([self.dir, str(PYTHON_DIR)])}
        ours, theirs = socket.socketpair()
        self.addCleanup(ours.close)
        proc = subprocess.Popen([sys.executable, "-m", module, *args, "--fd", str(theirs.fileno())],
                                pass_fds=[theirs.fileno()], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env)
        theirs.close()
        _, err = proc.communicate(timeout=20)
        self.assertEqual(proc.returncode, 2)
        return err.decode().rstrip("\n").split("\n")

    def assert_syntax_error(self, lines: List[str], prefix: str) -> None:
        self.assertRegex(lines[0], r"^%s\[\d+\]: cannot import handler module 'bad_syntax':$" % prefix)
        self.assertEqual(lines[1], '  File "%s", line 5' % os.path.join(self.dir, "bad_syntax.py"))
        self.assertEqual(lines[2], "    def broken(args)")
        self.assertRegex(lines[3], r"^\s+\^+$")
        self.assertTrue(lines[4].startswith("SyntaxError: "), lines)
        self.assertEqual(len(lines), 5, lines)

    def test_a_worker_names_the_module_and_shows_the_syntax_error_at_its_line(self) -> None:
        self.assert_syntax_error(self.run_failing("pyharness_worker", "--module", "bad_syntax"), "pyharness_worker")

    def test_a_zygote_names_the_module_and_shows_the_syntax_error_at_its_line(self) -> None:
        lines = self.run_failing("pyharness_worker.zygote", "--listen", os.path.join(self.dir, "z.sock"), "--module", "bad_syntax")
        self.assert_syntax_error(lines, "pyharness_zygote")

    def test_an_error_at_import_time_shows_the_user_frames_only(self) -> None:
        lines = self.run_failing("pyharness_worker", "--module", "bad_top")
        path = os.path.join(self.dir, "bad_top.py")
        self.assertRegex(lines[0], r"^pyharness_worker\[\d+\]: cannot import handler module 'bad_top':$")
        self.assertEqual(lines[1], "Traceback (most recent call last):")
        frames = [line for line in lines if line.startswith("  File ")]
        self.assertEqual(frames, [f'  File "{path}", line 8, in <module>', f'  File "{path}", line 5, in compute'])
        self.assertEqual(lines[-1], "ZeroDivisionError: division by zero")

    def test_a_missing_preload_is_named(self) -> None:
        lines = self.run_failing("pyharness_worker.zygote", "--listen", os.path.join(self.dir, "z.sock"), "--preload", "no_such_module_xyz")
        self.assertEqual(len(lines), 2, lines)
        self.assertRegex(lines[0], r"^pyharness_zygote\[\d+\]: cannot import preload module 'no_such_module_xyz':$")
        self.assertEqual(lines[1], "ModuleNotFoundError: No module named 'no_such_module_xyz'")


if __name__ == "__main__":
    unittest.main()
