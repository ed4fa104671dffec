"""Lets Go hold or fail the start of chosen interpreters (the lazy pool specs).

Each interpreter that imports this module claims the next slot, n, in
GATE_DIR: the file slot-<n> appears, holding the interpreter's pid (a hard
link to a file already written, so whoever sees the slot can read the pid).
Slot n's import then waits while GATE_DIR/gate-<n> exists (a FIFO: it
waits until Go opens it for writing), and fails if GATE_DIR/fail-<n> exists.
"""

import os

_dir = os.environ["GATE_DIR"]
_mine = os.path.join(_dir, f"pid-{os.getpid()}")
with open(_mine, "w") as f:
    f.write(str(os.getpid()))
for _n in range(1000):
    try:
        os.link(_mine, os.path.join(_dir, f"slot-{_n}"))
        break
    except FileExistsError:
        continue
_gate = os.path.join(_dir, f"gate-{_n}")
if os.path.exists(_gate):
    with open(_gate) as g:  # blocks until Go opens the FIFO to write
        g.read()
if os.path.exists(os.path.join(_dir, f"fail-{_n}")):
    raise RuntimeError(f"gated import: slot {_n} fails")


def slot(args: object) -> int:
    return _n
