"""A user module that lists its methods explicitly."""


def _double(args: int) -> int:
    return args * 2


PYHARNESS_METHODS = {"double": _double}
