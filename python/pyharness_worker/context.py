"""The request a handler is serving, reachable from inside any handler.

    from pyharness_worker.context import current

    def predict(args):
        state = current().state        # per-session dict, cleared by reset
        ...
"""

from .core import Request, activate, current, deactivate

__all__ = ["Request", "current", "activate", "deactivate"]
