"""Built-in methods every worker serves: ping, info, reset, shutdown."""

from __future__ import annotations

import os
import reprlib
import sys
import time

from .core import PROTOCOL_VERSION, current
from .framing import dumps

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Dict

    from .core import Serving

_PYTHON_VERSION = "%d.%d.%d" % sys.version_info[:3]


def ping(args: Any) -> "EncodedJSON":
    """Readiness and health: answers as soon as the worker serves requests.
    The heartbeat of every pool: its reply is encoded from a cached part
    that only a fork changes, plus the uptime. Args {"segments": true}: the
    caller reads segmented frames, so replies may be (PROTOCOL.md,
    Segmented frames)."""
    worker = current().worker
    if type(args) is dict and args.get("segments") is True:
        worker.segments = True
    return ping_of(worker)


def ping_of(worker: Serving) -> "EncodedJSON":
    """ping's reply for worker (also answered by a multiplexing worker's
    reader thread while its event loop is blocked: server.py)."""
    key = (_pid, worker)  # the worker itself, not its id(): a later worker may reuse a freed one's
    cached = _hello_cache.get(key)
    if cached is None:
        _hello_cache.clear()
        fixed = dict(hello(worker))
        del fixed["uptime"]
        cached = _hello_cache[key] = dumps(fixed)[:-1] + b',"uptime":'
    return EncodedJSON(b"%s%r}" % (cached, time.monotonic() - worker.started))


class EncodedJSON(bytes):
    """A result already encoded as JSON: the reply carries it as is."""


_hello_cache: Dict[Any, bytes] = {}

_pid = os.getpid()


def _forked() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)


def hello(worker: Serving) -> Dict[str, Any]:
    """The ping reply of worker (also sent by a forked worker as it starts)."""
    reply = {
        "pid": _pid,
        "worker_id": worker.worker_id,
        "python": _PYTHON_VERSION,
        "uptime": time.monotonic() - worker.started,
        "protocol": PROTOCOL_VERSION,
        "max_frame": worker.max_frame,
        "features": FEATURES + ["pipeline"],
    }
    concurrency = getattr(worker, "concurrency", 1)
    if concurrency > 1:  # PROTOCOL.md, Concurrency: up to this many requests in flight
        reply["features"] = FEATURES + ["multiplex"]
        reply["concurrency"] = concurrency
        sync_threads = getattr(worker, "sync_threads", 0)
        if sync_threads > 0:  # sync handlers run in this many threads
            reply["sync_threads"] = sync_threads
        slow = getattr(worker, "slow_callback", 0.0)
        if slow > 0:  # a blocked event loop is reported, and pings answered meanwhile
            reply["slow_callback"] = slow
    return reply


# What this worker does beyond plain calls (PROTOCOL.md): the Go side
# offers streams, cancellation and callbacks only to workers that list them.
# A worker serving one call at a time adds "pipeline" (requests written
# behind a running call, each cancellable before it starts); a multiplexing
# one adds "multiplex" instead.
FEATURES = ["stream", "cancel", "callback", "async", "segments"]


def info(args: Any) -> Dict[str, Any]:
    """Everything a test may want to know about the worker (a multiplexing
    one adds "calls": its calls running as tasks, in threads, waiting)."""
    worker = current().worker
    reply = {
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "worker_id": worker.worker_id,
        "python": _PYTHON_VERSION,
        "executable": sys.executable,
        "protocol": PROTOCOL_VERSION,
        "max_frame": worker.max_frame,
        "methods": sorted(worker.methods),
        "modules": list(worker.user_modules),
        "served": worker.served,
        "uptime": time.monotonic() - worker.started,
        "sessions": sorted(worker.sessions),
        "cwd": os.getcwd(),
    }
    in_flight = getattr(worker, "in_flight", None)
    calls = in_flight() if in_flight is not None else None
    if calls is not None:  # a multiplexing worker: its calls by where they run
        reply["calls"] = calls
    return reply


def reset(args: Any) -> Dict[str, Any]:
    """Clear per-session state: the session named in args, else the request's, else all."""
    req = current()
    session = None
    if isinstance(args, dict) and isinstance(args.get("session"), str):
        session = args["session"]
    elif req.session is not None:
        session = req.session
    return {"cleared": req.worker.reset_sessions(session)}


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 200
_REPR.maxlist = _REPR.maxdict = _REPR.maxset = _REPR.maxtuple = 50


def _fingerprint(value: Any) -> str:
    try:
        return type(value).__name__ + ":" + _REPR.repr(value)
    except Exception as exc:  # a repr that raises is still a fingerprint
        return type(value).__name__ + ":<repr failed: " + type(exc).__name__ + ">"


def state(args: Any) -> Dict[str, Any]:
    """What a spec may leave behind in the interpreter: the modules loaded
    (all of sys.modules), the modules handlers imported (imported: not the
    worker's own lazy imports, see imports.py), a fingerprint of every
    global of the handler modules (and of the modules named in
    args["modules"]), and which worker answers."""
    worker = current().worker
    names = list(worker.user_modules)
    if isinstance(args, dict) and isinstance(args.get("modules"), list):
        names += [m for m in args["modules"] if isinstance(m, str)]
    globals_: Dict[str, Dict[str, str]] = {}
    for name in names:
        module = sys.modules.get(name)
        if module is None:
            continue
        globals_[name] = {
            key: _fingerprint(value) for key, value in list(vars(module).items()) if not key.startswith("__")
        }
    return {
        "modules": sorted(sys.modules),
        "imported": worker.imports.names(),
        "globals": globals_,
        "pid": os.getpid(),
        "worker_id": worker.worker_id,
    }


def shutdown(args: Any) -> None:
    """Reply, then exit with code 0 once the reply is written."""
    current().worker.stop()
    return None


METHODS: Dict[str, Callable[[Any], Any]] = {
    "ping": ping,
    "info": info,
    "reset": reset,
    "state": state,
    "shutdown": shutdown,
}
