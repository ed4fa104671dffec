"""Starts a background thread at import, as a gRPC client or a metrics exporter does."""

import threading

_stop = threading.Event()
threading.Thread(target=_stop.wait, name="poller", daemon=True).start()
print("starts_thread: printed at import")


def ping(args):
    return "pong"
