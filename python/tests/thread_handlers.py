"""A handler module that starts a Python thread at import: not fork-safe."""

import threading
from typing import Any

_stop = threading.Event()


def _background() -> None:
    _stop.wait()


threading.Thread(target=_background, name="background-poller", daemon=True).start()


def add(args: Any) -> int:
    return int(args["a"]) + int(args["b"])
