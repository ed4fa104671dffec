"""The zygote's fork-safety check (pyharness_worker.forksafe)."""

import ctypes.util
import json
import subprocess
import sys
import unittest
from pathlib import Path
from typing import Any, Dict

from pyharness_worker import forksafe

PYTHON_DIR = Path(__file__).resolve().parent.parent


def verdict_after(code: str) -> Dict[str, Any]:
    """The verdict of a fresh interpreter after it runs code, imported as
    the zygote imports a module (Checker.imported names it)."""
    script = (
        "import json, sys\n"
        "from pyharness_worker import forksafe\n"
        "checker = forksafe.Checker()\n"
        f"{code}\n"
        "checker.imported('the_module')\n"
        "print(json.dumps(checker.verdict().as_dict()))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=PYTHON_DIR, capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise AssertionError(out.stderr)
    return json.loads(out.stdout)


class NamesTest(unittest.TestCase):
    def test_library_names(self) -> None:
        self.assertEqual(forksafe.library_name("/usr/lib/x86_64-linux-gnu/libgomp.so.1.0.0"), "libgomp")
        self.assertEqual(forksafe.library_name("/site/scikit_learn.libs/libgomp-a34b3233.so.1.0.0"), "libgomp")
        self.assertEqual(forksafe.library_name("/site/grpc/_cython/cygrpc.cpython-311-x86_64-linux-gnu.so"), "cygrpc")
        self.assertEqual(forksafe.library_name("/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblasp-r0.3.21.so"), "libopenblasp-r0.3.21")

    def test_classification(self) -> None:
        self.assertEqual(forksafe.classify("/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblasp-r0.3.21.so"), "safe")
        self.assertEqual(forksafe.classify("/site/numpy.libs/libopenblas64_p-r0-15028c96.3.21.dev.so"), "safe")
        for unsafe in ("/usr/lib/libgomp.so.1", "/opt/intel/libiomp5.so", "/usr/lib/libcuda.so.1", "/usr/lib/llvm/libomp.so.5"):
            self.assertEqual(forksafe.classify(unsafe), "unsafe", unsafe)
        self.assertEqual(forksafe.classify("/usr/lib/libsomething.so"), "unknown")

    def test_owner_skips_the_libraries_every_thread_passes_through(self) -> None:
        maps = forksafe.Maps(
            "1000-2000 r-xp 0 08:01 1 /usr/lib/x86_64-linux-gnu/libc.so.6\n"
            "3000-4000 r-xp 0 08:01 2 /usr/lib/x86_64-linux-gnu/libopenblasp-r0.3.21.so\n"
            "5000-6000 rw-p 0 00:00 0\n")
        self.assertEqual(forksafe.owner_of([0x1500, 0x5008, 0x3100], maps), "/usr/lib/x86_64-linux-gnu/libopenblasp-r0.3.21.so")
        self.assertIsNone(forksafe.owner_of([0x1500, 0x5008], maps))

    @unittest.skipUnless(sys.platform.startswith("linux"), "ELF")
    def test_needed_reads_an_extension_modules_libraries(self) -> None:
        import _ctypes  # an extension module that needs libffi

        soname, libs = forksafe.needed(_ctypes.__file__)
        self.assertTrue(any(lib.startswith("libffi") for lib in libs), libs)


class VerdictTest(unittest.TestCase):
    def test_one_thread_is_safe(self) -> None:
        v = verdict_after("pass")
        self.assertTrue(v["safe"], v)
        self.assertEqual(v["threads"], 0)

    def test_a_python_thread_is_unsafe_and_named_with_its_module(self) -> None:
        v = verdict_after("import tests.thread_handlers")
        self.assertFalse(v["safe"], v)
        self.assertEqual(v["library"], "threading")
        self.assertEqual(v["module"], "tests.thread_handlers")
        self.assertEqual(v["started_by"], "the_module")
        self.assertIn("background-poller", v["detail"])

    def test_a_gnu_openmp_team_is_unsafe_and_named(self) -> None:
        self.assertIsNotNone(ctypes.util.find_library("gomp"), "libgomp (GNU OpenMP) is part of every gcc install")
        v = verdict_after("import tests.omp_handlers")
        self.assertFalse(v["safe"], v)
        self.assertEqual(v["library"], "libgomp")
        self.assertEqual(v["kind"], "GNU OpenMP")
        self.assertEqual(v["started_by"], "the_module")
        self.assertIn("libgomp", v["detail"])
        self.assertIn("started while importing the_module", v["detail"])

    def test_the_verdict_is_recomputed_only_when_the_threads_change(self) -> None:
        checker = forksafe.Checker()
        first = checker.verdict()
        self.assertIs(checker.verdict(), first, "the same threads: the same verdict, not a new check")


if __name__ == "__main__":
    unittest.main()
