"""A handler module that is not fork-safe: it starts a thread at import."""

import os
import threading

_ticker = threading.Event()
threading.Thread(target=_ticker.wait, daemon=True).start()


def whoami(_args: object) -> dict:
    return {"pid": os.getpid(), "ppid": os.getppid(), "threads": threading.active_count()}
