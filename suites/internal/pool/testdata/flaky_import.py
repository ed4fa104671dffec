"""Fails to import in all but the first FLAKY_GOOD interpreters that import it.

Each import claims the next slot file in FLAKY_DIR (O_EXCL makes the claim
atomic across concurrent interpreters).
"""

import os

_dir = os.environ["FLAKY_DIR"]
_good = int(os.environ.get("FLAKY_GOOD", "1"))
for _n in range(1000):
    try:
        os.close(os.open(os.path.join(_dir, f"slot-{_n}"), os.O_CREAT | os.O_EXCL))
        break
    except FileExistsError:
        continue
if _n >= _good:
    raise RuntimeError(f"flaky import: slot {_n} of {_good} good ones")


def ok(args):
    return True
