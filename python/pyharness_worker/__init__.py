"""pyharness worker: serves the pyharness wire protocol (see PROTOCOL.md).

Stdlib only, Python >= 3.9. Run as ``python3 -m pyharness_worker --fd 3``.
"""

PROTOCOL_VERSION = 1
DEFAULT_MAX_FRAME = 64 << 20

__all__ = ["PROTOCOL_VERSION", "DEFAULT_MAX_FRAME"]
