"""The worker writes its own bytecode whatever PYTHONDONTWRITEBYTECODE says
(the unpacked worker is compiled once, not at every start), without
importing its modules to do so; user modules keep the setting."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "pyharness_worker"


class OwnBytecodeTest(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.tmp)
        shutil.copytree(PACKAGE_DIR, self.tmp / "pyharness_worker", ignore=shutil.ignore_patterns("__pycache__"))
        (self.tmp / "usermod.py").write_text("VALUE = 1\n", encoding="utf-8")

    def run_python(self, code: str) -> str:
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=str(self.tmp))
        done = subprocess.run([sys.executable, "-c", code], env=env, cwd=self.tmp, capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 0, done.stderr)
        return done.stdout

    def test_importing_the_package_compiles_every_module_and_imports_none(self) -> None:
        out = self.run_python(
            "import sys, pyharness_worker, usermod\n"
            "print(sorted(m for m in sys.modules if m.startswith('pyharness_worker')))\n"
        )
        self.assertEqual(out.strip(), "['pyharness_worker', 'pyharness_worker.core', 'pyharness_worker.phase']")
        sources = sorted(p.stem for p in (self.tmp / "pyharness_worker").glob("*.py"))
        compiled = sorted(p.name.split(".")[0] for p in (self.tmp / "pyharness_worker" / "__pycache__").glob("*.pyc"))
        self.assertEqual(compiled, sources)
        self.assertFalse((self.tmp / "__pycache__").exists(), "the user's module keeps PYTHONDONTWRITEBYTECODE")

    def test_a_later_start_finds_the_bytecode_and_leaves_it(self) -> None:
        self.run_python("import pyharness_worker")
        cache = self.tmp / "pyharness_worker" / "__pycache__"
        before = {p.name: p.stat().st_mtime_ns for p in cache.glob("*.pyc")}
        out = self.run_python("import sys, pyharness_worker.server\nprint(sys.dont_write_bytecode)")
        self.assertEqual(out.strip(), "True", "the setting is the user's again once the package is imported")
        self.assertEqual({p.name: p.stat().st_mtime_ns for p in cache.glob("*.pyc")}, before)


if __name__ == "__main__":
    unittest.main()
