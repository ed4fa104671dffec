"""pyharness_worker.doctor_check, run as `pyharness doctor --module` runs it: a child interpreter."""

import ctypes.util
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import unittest
from typing import Any, Dict, Tuple

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class DoctorCheckTest(unittest.TestCase):
    def setUp(self) -> None:
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)

    def module(self, name: str, source: str) -> None:
        with open(os.path.join(self.dir.name, name + ".py"), "w", encoding="utf-8") as f:
            f.write(textwrap.dedent(source))

    def run_check(self, *modules: str) -> Tuple[int, Dict[str, Any], str]:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([self.dir.name, PYTHON_DIR]))
        proc = subprocess.run(
            [sys.executable, "-m", "pyharness_worker.doctor_check", *modules],
            env=env, capture_output=True, text=True, timeout=60,
        )
        return proc.returncode, json.loads(proc.stdout), proc.stderr

    def test_reports_import_time_and_threads_the_import_started(self) -> None:
        self.module("starts_thread", """
            import threading
            stop = threading.Event()
            threading.Thread(target=stop.wait, name="poller", daemon=True).start()
            print("printed at import")
        """)
        code, report, stderr = self.run_check("starts_thread")
        self.assertEqual(code, 0, stderr)
        (m,) = report["modules"]
        self.assertEqual(m["module"], "starts_thread")
        self.assertIsNone(m["error"])
        self.assertGreater(m["import_ms"], 0)
        self.assertEqual(m["python_threads"], ["poller"])
        self.assertEqual(len(m["native_threads"]), 1, m["native_threads"])
        self.assertEqual(m["libraries"], [])
        self.assertIn("printed at import", stderr, "what the module prints does not corrupt the report on stdout")

    def test_a_quiet_module_starts_no_thread_and_maps_nothing_known(self) -> None:
        self.module("quiet", "X = 1\n")
        code, report, _ = self.run_check("quiet")
        self.assertEqual(code, 0)
        (m,) = report["modules"]
        self.assertEqual((m["python_threads"], m["native_threads"], m["libraries"]), ([], [], []))

    @unittest.skipIf(ctypes.util.find_library("gomp") is None,
                     "libgomp is not installed (Debian: apt-get install libgomp1): no real OpenMP runtime to load")
    def test_names_a_fork_unsafe_library_the_import_loaded(self) -> None:
        self.module("uses_openmp", """
            import ctypes
            ctypes.CDLL("libgomp.so.1")
        """)
        code, report, stderr = self.run_check("uses_openmp")
        self.assertEqual(code, 0, stderr)
        (m,) = report["modules"]
        (lib,) = m["libraries"]
        self.assertTrue(lib["name"].startswith("libgomp.so"), lib)
        self.assertFalse(lib["fork_safe"])
        self.assertIn("GNU OpenMP", lib["why"])
        self.assertGreaterEqual(m["native_libraries"], 1)

    def test_a_failed_import_carries_the_users_traceback_and_exits_1(self) -> None:
        self.module("broken", """
            def load():
                raise RuntimeError("model file missing")
            load()
        """)
        self.module("fine", "")
        code, report, _ = self.run_check("broken", "fine")
        self.assertEqual(code, 1)
        broken, fine = report["modules"]
        self.assertIsNone(fine["error"])
        lines = broken["error"].splitlines()
        self.assertEqual(lines[0], "Traceback (most recent call last):")
        self.assertIn("broken.py", lines[1], "the first frame is the user's, not the import machinery's")
        self.assertEqual(lines[-1], "RuntimeError: model file missing")
        self.assertNotIn("doctor_check", broken["error"])
        self.assertNotIn("importlib", broken["error"])

    def test_a_missing_module_and_no_arguments(self) -> None:
        code, report, _ = self.run_check("no_such_module_here")
        self.assertEqual(code, 1)
        self.assertEqual(report["modules"][0]["error"].strip(), "ModuleNotFoundError: No module named 'no_such_module_here'")
        proc = subprocess.run([sys.executable, "-m", "pyharness_worker.doctor_check"], capture_output=True, text=True,
                              env=dict(os.environ, PYTHONPATH=PYTHON_DIR), timeout=60)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("usage: python3 -m pyharness_worker.doctor_check MODULE", proc.stderr)


if __name__ == "__main__":
    unittest.main()
