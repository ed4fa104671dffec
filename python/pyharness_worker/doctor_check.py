"""What importing a user's module costs, and whether a fork survives it.

    python3 -m pyharness_worker.doctor_check MODULE [MODULE ...]

`pyharness doctor --module MODULE` runs this. It imports each module in
turn, in this process, and prints one JSON object: for each module the
import time, the threads the import started (Python and native, from
/proc/self/task), and the native libraries it mapped (from /proc/self/maps)
that are known not to survive a fork, or known to survive one. A module that
fails to import carries its traceback. The exit code is 0 when every module
imported, 1 otherwise.

A fork copies only the thread that forks: a library whose threads or locks
must survive it (an OpenMP runtime, a CUDA context, gRPC's pollers) breaks
the workers a zygote forks (realpy.ZygoteFork, warm hosts, WithPreload).
"""

import importlib
import json
import os
import re
import sys
import threading
import time
import traceback
from types import TracebackType
from typing import Any, Dict, List, Optional, Pattern, Set, Tuple

# (pattern on a library's file name, fork-safe, what happens across a fork)
KNOWN_LIBRARIES: List[Tuple[Pattern[str], bool, str]] = [
    (re.compile(r"^libgomp[.-]"), False,
     "GNU OpenMP (libgomp): its thread pool does not survive fork; "
     "a forked worker hangs in its first parallel region once the parent has run one"),
    (re.compile(r"^libiomp5?[.-]"), False,
     "Intel OpenMP (libiomp): its thread pool does not survive fork"),
    (re.compile(r"^libcuda[.-]|^libcudart[.-]"), False,
     "CUDA: a CUDA context does not survive fork; initialise CUDA in the worker, after the fork"),
    (re.compile(r"^libgrpc|^cygrpc[.-]"), False,
     "gRPC: its polling threads do not survive fork (GRPC_ENABLE_FORK_SUPPORT=1 helps only some versions)"),
    (re.compile(r"^libopenblas"), True,
     "OpenBLAS: survives fork (it re-creates its threads in the child: pthread_atfork)"),
]


def mapped_files() -> Set[str]:
    """The shared objects mapped into this process (/proc/self/maps)."""
    files: Set[str] = set()
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.split(None, 5)
                if len(parts) == 6:
                    path = parts[5].strip()
                    if path.startswith("/") and ".so" in os.path.basename(path):
                        files.add(path)
    except OSError:
        pass
    return files


def native_threads() -> Dict[int, str]:
    """This process's threads (/proc/self/task), by tid, with their names."""
    out: Dict[int, str] = {}
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open("/proc/self/task/%s/comm" % tid, encoding="utf-8", errors="replace") as f:
                out[int(tid)] = f.read().strip()
        except (OSError, ValueError):
            continue
    return out


def classify(path: str) -> Optional[Dict[str, Any]]:
    """What is known of the library at path across a fork, or None."""
    name = os.path.basename(path)
    for pattern, safe, why in KNOWN_LIBRARIES:
        if pattern.search(name):
            return {"name": name, "path": path, "fork_safe": safe, "why": why}
    return None


def users_frames(tb: Optional[TracebackType]) -> Optional[TracebackType]:
    """tb without its first frames that are this module's or the import machinery's."""
    importlib_dir = os.path.dirname(importlib.__file__)
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename == __file__ or filename.startswith("<frozen importlib") or os.path.dirname(filename) == importlib_dir:
            tb = tb.tb_next
            continue
        break
    return tb


def check(module: str) -> Dict[str, Any]:
    """Imports module and reports what the import did."""
    libs_before = mapped_files()
    tasks_before = native_threads()
    py_before = {id(t) for t in threading.enumerate()}
    result: Dict[str, Any] = {"module": module, "error": None, "already_imported": module in sys.modules}
    began = time.perf_counter()
    try:
        importlib.import_module(module)
    except BaseException as e:  # the report carries it: SystemExit and KeyboardInterrupt included
        result["error"] = "".join(traceback.format_exception(type(e), e, users_frames(e.__traceback__)))
    result["import_ms"] = round((time.perf_counter() - began) * 1000, 3)
    new_libs = sorted(mapped_files() - libs_before)
    tasks_after = native_threads()
    result["native_libraries"] = len(new_libs)
    result["libraries"] = [c for c in (classify(p) for p in new_libs) if c is not None]
    result["python_threads"] = sorted(t.name for t in threading.enumerate() if id(t) not in py_before)
    result["native_threads"] = [
        {"tid": tid, "name": name} for tid, name in sorted(tasks_after.items()) if tid not in tasks_before
    ]
    return result


def main(argv: List[str]) -> int:
    if not argv or any(a.startswith("-") for a in argv):
        sys.stderr.write("usage: python3 -m pyharness_worker.doctor_check MODULE [MODULE ...]\n")
        return 2
    # What the modules print (from Python or C) goes to stderr: stdout carries the report alone.
    sys.stdout.flush()
    report = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    results = [check(m) for m in argv]
    report.write(json.dumps({"python": sys.version.split()[0], "modules": results}) + "\n")
    report.flush()
    return 0 if all(r["error"] is None for r in results) else 1


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # threads the modules started must not hold the exit
