"""pyharness worker: serves the pyharness wire protocol (see PROTOCOL.md).

Stdlib only, Python >= 3.9. Run as ``python3 -m pyharness_worker --fd 3``.
"""

import sys

from . import phase

phase.mark("worker import")  # the interpreter's start-up (site, sitecustomize) is over

PROTOCOL_VERSION = 1
DEFAULT_MAX_FRAME = 64 << 20
# The smallest frame limit either side accepts: room for any error reply.
MIN_MAX_FRAME = 1024
# How deep values may nest (PROTOCOL.md, Values); deeper args are refused.
MAX_DEPTH = 500

# Integers of any size (PROTOCOL.md): Python 3.11 limits int<->str
# conversion to 4300 digits by default; the frame limit bounds them here.
if hasattr(sys, "set_int_max_str_digits"):
    sys.set_int_max_str_digits(0)



def max_frame_arg(value: str) -> int:
    """argparse type of --max-frame: at least MIN_MAX_FRAME."""
    n = int(value)
    if n < MIN_MAX_FRAME:
        import argparse

        raise argparse.ArgumentTypeError(f"{n} is below the protocol's minimum frame limit of {MIN_MAX_FRAME} bytes")
    return n


__all__ = ["PROTOCOL_VERSION", "DEFAULT_MAX_FRAME", "MIN_MAX_FRAME", "MAX_DEPTH", "max_frame_arg"]


def _compile_own_modules() -> None:
    """Import the worker's own modules with bytecode writing on, whatever
    PYTHONDONTWRITEBYTECODE says: the unpacked worker is compiled once per
    interpreter (in its __pycache__, when the cache directory is writable),
    not at every start. User modules keep the setting."""
    saved = sys.dont_write_bytecode
    sys.dont_write_bytecode = False
    try:
        from . import bridge, builtin_methods, context, fault_methods, framing, handlers, liveness, server  # noqa: F401
    finally:
        sys.dont_write_bytecode = saved


_compile_own_modules()
