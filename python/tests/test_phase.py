"""A spawned worker's start phases (phase.py), as the Go side reads them."""

import os
import socket
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

PYTHON_DIR = Path(__file__).resolve().parent.parent


class StartPhaseTest(unittest.TestCase):
    def test_a_worker_writes_its_phases_and_keeps_the_variable_from_handlers(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "phase")
            ours, theirs = socket.socketpair()
            self.addCleanup(ours.close)
            proc = subprocess.Popen(
                [sys.executable, "-m", "pyharness_worker", "--fd", str(theirs.fileno()), "--module", "tests.sample_handlers"],
                cwd=PYTHON_DIR, pass_fds=[theirs.fileno()], stderr=subprocess.PIPE,
                env={**os.environ, "PYHARNESS_START_PHASE": path},
            )
            theirs.close()
            self.addCleanup(proc.stderr.close)
            ours.shutdown(socket.SHUT_WR)  # EOF: the worker serves nothing and exits 0
            self.assertEqual(proc.wait(60), 0, proc.stderr.read())
            with open(path) as f:
                phases = f.read().splitlines()
        self.assertEqual(phases, ["worker import", "handlers import: tests.sample_handlers", "ready"])

    def test_without_the_variable_nothing_is_written(self) -> None:
        from pyharness_worker import phase

        saved = phase._path
        self.addCleanup(setattr, phase, "_path", saved)
        phase._path = ""
        phase.mark("anything")  # no file, no error


if __name__ == "__main__":
    unittest.main()
