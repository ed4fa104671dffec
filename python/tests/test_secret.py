"""The zygote's secret leaves no trace in the process or its forks."""

import os
import subprocess
import sys
import unittest
from pathlib import Path

PYTHON_DIR = str(Path(__file__).resolve().parent.parent)

SCRIPT = r"""
import os, posix, sys
from pyharness_worker.zygote import take_secret
secret = take_secret()
assert secret == "t0ps3cret", secret
assert "PYHARNESS_ZYGOTE_SECRET" not in os.environ
assert b"PYHARNESS_ZYGOTE_SECRET" not in posix.environ
assert os.environ["OTHER"] == "kept"
def clean():
    with open("/proc/self/environ", "rb") as f:
        block = f.read()
    return b"t0ps3cret" not in block and b"OTHER=kept" in block
assert clean(), "own /proc/self/environ"
pid = os.fork()
if pid == 0:
    os._exit(0 if clean() else 1)
_, status = os.waitpid(pid, 0)
assert status == 0, "forked child's /proc/self/environ"
out = os.popen("env").read()
assert "t0ps3cret" not in out and "OTHER=kept" in out, "a child process's environment"
print("ok")
"""


class TakeSecretTest(unittest.TestCase):
    @unittest.skipUnless(os.path.exists("/proc/self/environ"), "needs /proc")
    def test_the_secret_is_gone_from_environ_posix_environ_and_proc(self) -> None:
        env = {**os.environ, "PYHARNESS_ZYGOTE_SECRET": "t0ps3cret", "OTHER": "kept", "PYTHONPATH": PYTHON_DIR}
        proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout.strip(), "ok")
        self.assertEqual(proc.stderr, "")


if __name__ == "__main__":
    unittest.main()
