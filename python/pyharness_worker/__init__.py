"""pyharness worker: serves the pyharness wire protocol (see PROTOCOL.md).

Stdlib only, Python >= 3.9. Run as ``python3 -m pyharness_worker --fd 3``.

Importing the package is cheap: it imports none of its submodules but
phase and core (a start imports what its first call needs, and no more;
python/tests/test_start_imports.py checks).
"""

import os
import sys

from . import phase

phase.mark("worker import")  # the interpreter's start-up (site, sitecustomize) is over

from .core import DEFAULT_MAX_FRAME, MAX_DEPTH, MIN_MAX_FRAME, PROTOCOL_VERSION  # noqa: E402

# Integers of any size (PROTOCOL.md): Python 3.11 limits int<->str
# conversion to 4300 digits by default; the frame limit bounds them here.
if hasattr(sys, "set_int_max_str_digits"):
    sys.set_int_max_str_digits(0)


def max_frame_arg(value: str) -> int:
    """argparse type of --max-frame: at least MIN_MAX_FRAME."""
    n = int(value)
    if n < MIN_MAX_FRAME:
        import argparse  # only to say what is wrong: not paid at start

        raise argparse.ArgumentTypeError(f"{n} is below the protocol's minimum frame limit of {MIN_MAX_FRAME} bytes")
    return n


__all__ = ["PROTOCOL_VERSION", "DEFAULT_MAX_FRAME", "MIN_MAX_FRAME", "MAX_DEPTH", "max_frame_arg"]


def _compile_own_modules() -> None:
    """Write the bytecode of the worker's own modules, whatever
    PYTHONDONTWRITEBYTECODE says: the unpacked worker is compiled once per
    interpreter (in its __pycache__, when the directory is writable), not at
    every start. User modules keep the setting. Without the setting, imports
    write it as usual; with it, the sources whose bytecode is missing or
    older are compiled here, without being imported (a stat of each when
    all is compiled)."""
    if not sys.dont_write_bytecode:
        return
    tag = sys.implementation.cache_tag
    if tag is None:  # an interpreter that keeps no bytecode
        return
    if sys.flags.optimize:
        tag += f".opt-{sys.flags.optimize}"
    here = os.path.dirname(os.path.abspath(__file__))
    pycache = os.path.join(here, "__pycache__")
    if not os.access(pycache if os.path.isdir(pycache) else here, os.W_OK):
        return  # nowhere to write it: each import compiles what it needs, as it would anyway
    try:
        names = [n for n in os.listdir(here) if n.endswith(".py")]
    except OSError:
        return
    for name in names:
        source = os.path.join(here, name)
        # importlib.util.cache_from_source's name, without importing it (and
        # contextlib with it) at every start.
        cached = os.path.join(pycache, f"{name[:-3]}.{tag}.pyc")
        try:
            if os.stat(cached).st_mtime >= os.stat(source).st_mtime:
                continue
        except OSError:  # no bytecode yet
            pass
        from importlib.machinery import SourceFileLoader  # only when something is to be compiled

        module = __name__ if name == "__init__.py" else f"{__name__}.{name[:-3]}"
        sys.dont_write_bytecode = False
        try:
            SourceFileLoader(module, source).get_code(module)
        except (OSError, SyntaxError, ImportError):  # unreadable: the import says so, if it comes
            pass
        finally:
            sys.dont_write_bytecode = True


_compile_own_modules()
