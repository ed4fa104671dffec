"""What the handlers imported: the modules a contamination check counts.

A worker imports modules lazily too (traceback formatting when a handler
raised, asyncio for the first async handler): those are not a spec's doing.
So the worker counts only the modules that enter sys.modules while a
handler's own code runs: the call itself, each step of a stream (between
items the worker is in charge), an async handler's run on the event loop,
the finally blocks a closed stream runs. It compares len(sys.modules) as
handler code starts and ends, and computes which names are new only when
the length changed: a call that imports nothing pays two len() calls.

Limits: a module that a thread started by a handler imports while no
handler runs is counted as the worker's; so is a module that replaces
another one in sys.modules without changing its length. The worker's own
package is never counted. A forked worker starts with nothing counted.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start
if TYPE_CHECKING:  # pragma: no cover
    from typing import Dict, List, Set

_OWN = __name__.rpartition(".")[0] or "pyharness_worker"
_modules: Dict[str, object] = sys.modules


class Ledger:
    """The names handlers imported, and what sys.modules held when handler
    code last started or ended."""

    __slots__ = ("known", "seen", "imported")

    def __init__(self) -> None:
        self.known: Set[str] = set(_modules)
        self.seen = len(self.known)  # len(sys.modules) at the last boundary
        self.imported: Set[str] = set()

    def worker_imported(self) -> None:
        """Handler code starts and sys.modules changed since handler code
        last ended: what came meanwhile is the worker's."""
        self.known = set(_modules)
        self.seen = len(self.known)

    def handler_imported(self) -> None:
        """Handler code ends (or pauses) and sys.modules changed while it ran."""
        now = set(_modules)
        for name in now - self.known:
            if name != _OWN and not name.startswith(_OWN + "."):
                self.imported.add(name)
        self.known = now
        self.seen = len(now)

    def names(self) -> List[str]:
        """The modules handlers imported that are still loaded, sorted."""
        return sorted(name for name in self.imported if name in _modules)
