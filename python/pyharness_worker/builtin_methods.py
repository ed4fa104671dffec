"""Built-in methods every worker serves: ping, info, reset, shutdown."""

import os
import platform
import sys
import time
from typing import Any, Callable, Dict

from . import PROTOCOL_VERSION
from .context import current


def ping(args: Any) -> Dict[str, Any]:
    """Readiness and health: answers as soon as the worker serves requests."""
    return hello(current().worker)


def hello(worker: Any) -> Dict[str, Any]:
    """The ping reply of worker (also sent by a forked worker as it starts)."""
    return {
        "pid": os.getpid(),
        "worker_id": worker.worker_id,
        "python": platform.python_version(),
        "uptime": time.monotonic() - worker.started,
        "protocol": PROTOCOL_VERSION,
        "max_frame": worker.max_frame,
    }


def info(args: Any) -> Dict[str, Any]:
    """Everything a test may want to know about the worker."""
    worker = current().worker
    return {
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "worker_id": worker.worker_id,
        "python": platform.python_version(),
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


def reset(args: Any) -> Dict[str, Any]:
    """Clear per-session state: the session named in args, else the request's, else all."""
    req = current()
    session = None
    if isinstance(args, dict) and isinstance(args.get("session"), str):
        session = args["session"]
    elif req.session is not None:
        session = req.session
    return {"cleared": req.worker.reset_sessions(session)}


def shutdown(args: Any) -> None:
    """Reply, then exit with code 0 once the reply is written."""
    current().worker.stop()
    return None


METHODS: Dict[str, Callable[[Any], Any]] = {
    "ping": ping,
    "info": info,
    "reset": reset,
    "shutdown": shutdown,
}
