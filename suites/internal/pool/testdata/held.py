"""A call that lasts until Go says so (the session-bound spec)."""

from pyharness_worker.bridge import call_go


def hold(args):
    return call_go("hold", args)
