"""The import budget of a start: a worker imports what its first call needs
and nothing more.

The worker is started as realpy starts it (python -c WORKER_MAIN with
--fd, --worker-id, --max-frame and --alive-fd), under -X importtime, and
answers its first call (ping, the readiness check). Every module imported
after the interpreter's own start-up (site, sitecustomize: those are the
environment's, not the worker's) and before that reply must be in ALLOWED.
What a handler rarely needs (typing, argparse, asyncio, threading,
traceback...) is imported when first used, not at start.

A second start runs without site (-S): then every module the start imports
is counted, also those some environment's site imports anyway (a .pth file
that imports typing and re, as this machine's pyenv has): the check does not
depend on the interpreter it runs on. Workers are never started with -S
(site finds dist-packages, user site-packages and .pth files: see
realpy/python.go); only this test uses it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import unittest
from typing import List, Set

from .test_process import PYTHON_DIR, call

# The modules a start may import, beyond the interpreter's own start-up.
ALLOWED: Set[str] = {
    # importlib itself (handlers import modules by name; it imports
    # warnings) and __future__
    "importlib", "warnings", "__future__",
    # what site imports when it runs (counted when it does not, under -S)
    "os", "stat", "_stat", "posixpath", "genericpath", "_collections_abc",
    # the worker's own modules on the path of a first call
    "pyharness_worker", "pyharness_worker.__main__", "pyharness_worker.phase", "pyharness_worker.core", "pyharness_worker.liveness",
    "pyharness_worker.server", "pyharness_worker.builtin_methods", "pyharness_worker.fault_methods",
    "pyharness_worker.framing", "pyharness_worker.handlers", "pyharness_worker.imports",
    # the connection: a bare descriptor (fdconn), polled with select; not
    # socket (and enum, selectors, math, array with it)
    "pyharness_worker.fdconn", "select",
    "types", "reprlib", "itertools",
    # frames: the C codec json builds on, not json (nor the re its decoder
    # compiles regexes with): framing imports those on first use only
    "_json", "struct", "_struct",
    # the request context
    "contextvars", "_contextvars",
}

MARKER = "pyharness-first-call-answered"

# How realpy starts a worker (realpy/worker.go, workerMain): python -c, not
# -m, which would import runpy, importlib.util and contextlib first.
WORKER_MAIN = "import sys; from pyharness_worker.__main__ import main; sys.exit(main())"


def _importtime_names(lines: List[str]) -> List[str]:
    """The module names of -X importtime's lines, in import order."""
    return [line.split("|")[2].strip() for line in lines if line.startswith("import time:") and "self [us]" not in line]


def started_imports(site: bool = True) -> List[str]:
    """The modules a worker started with -X importtime imports before its
    first reply, in import order: after site's (with site), or all but the
    interpreter's own (without)."""
    ours, theirs = socket.socketpair()
    alive_ours, alive_theirs = socket.socketpair()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(PYTHON_DIR)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.pop("PYHARNESS_START_PHASE", None)
    flags = [] if site else ["-S"]
    argv = [sys.executable, *flags, "-X", "importtime", "-c", WORKER_MAIN, "--fd", str(theirs.fileno()),
            "--worker-id", "budget", "--max-frame", str(64 << 20), "--alive-fd", str(alive_theirs.fileno())]
    proc = subprocess.Popen(argv, cwd=PYTHON_DIR, env=env, pass_fds=[theirs.fileno(), alive_theirs.fileno()],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    theirs.close()
    alive_theirs.close()
    try:
        first = call(ours, 1, "ping")
        assert first["ok"], first
        # Marks the end of the first call in the stderr importtime writes to.
        assert call(ours, 2, "print", {"stderr": MARKER})["ok"]
    finally:
        ours.close()
        alive_ours.close()
        _, err = proc.communicate(timeout=30)
    lines = err.decode("utf-8", "replace").splitlines()
    assert proc.returncode == 0, lines[-20:]
    assert MARKER in lines, lines[-20:]
    started = lines[: lines.index(MARKER)]
    if not site:
        bare = subprocess.run([sys.executable, "-S", "-X", "importtime", "-c", "pass"], env=env, capture_output=True, text=True, timeout=30)
        interpreter = set(_importtime_names(bare.stderr.splitlines()))
        assert "io" in interpreter, bare.stderr[-500:]
        return [name for name in _importtime_names(started) if name not in interpreter]
    names: List[str] = []
    after_site = False
    for line in started:
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        name = line.split("|")[2]
        if after_site:
            names.append(name.strip())
        elif name.strip() == "site" and not name.startswith("  "):
            after_site = True  # site's own tree ends with its line
    assert after_site, "no site line in the importtime output: " + repr(lines[:5])
    return names


class StartImportsTest(unittest.TestCase):
    maxDiff = None

    def test_a_start_imports_only_what_the_first_call_needs(self) -> None:
        names = started_imports()
        self.assertIn("pyharness_worker.server", names, "the parse sees the worker's own imports")
        extra = [name for name in names if name not in ALLOWED]
        self.assertEqual(extra, [], "imported before the first call, and not in ALLOWED")

    def test_without_site_a_start_imports_only_what_the_first_call_needs(self) -> None:
        names = started_imports(site=False)
        self.assertIn("select", names, "without site, the parse sees every module the start imports")
        self.assertNotIn("socket", names, "a spawned worker's connection is a bare descriptor (fdconn.py)")
        self.assertNotIn("enum", names)
        extra = [name for name in names if name not in ALLOWED]
        self.assertEqual(extra, [], "imported before the first call, and not in ALLOWED")

    def test_a_start_with_bytecode_writing_off_stays_in_budget(self) -> None:
        saved = os.environ.get("PYTHONDONTWRITEBYTECODE")
        os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
        try:
            names = started_imports()
        finally:
            if saved is None:
                del os.environ["PYTHONDONTWRITEBYTECODE"]
            else:
                os.environ["PYTHONDONTWRITEBYTECODE"] = saved
        self.assertEqual([name for name in names if name not in ALLOWED], [])


if __name__ == "__main__":
    unittest.main()
