"""Test methods that misbehave on purpose, so specs can exercise every fault."""

from __future__ import annotations

import builtins
import os
try:  # the C module signal wraps, without the enums signal builds at import
    import _signal as signal
except ImportError:  # pragma: no cover - an interpreter without it
    import signal  # type: ignore[no-redef]
import sys
import time

from .core import current
from .framing import HEADER

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Dict, Type


def _arg(args: Any, key: str, default: Any) -> Any:
    if isinstance(args, dict):
        return args.get(key, default)
    return default


def echo(args: Any) -> Any:
    """Return args unchanged."""
    return args


def _announce(args: Any) -> None:
    """Print {"announce": text} to stdout, so a test can wait for the method to be running."""
    text = _arg(args, "announce", None)
    if text is not None:
        print(text, flush=True)


def sleep(args: Any) -> float:
    """Sleep for args seconds (a number, or {"seconds": n, "announce": text}) and return it."""
    seconds = args if isinstance(args, (int, float)) else _arg(args, "seconds", 0)
    _announce(args)
    time.sleep(float(seconds))
    return float(seconds)


def _exception_type(name: str) -> Type[Exception]:
    candidate = getattr(builtins, name, None)
    if isinstance(candidate, type) and issubclass(candidate, Exception):
        return candidate
    return type(name, (Exception,), {})


def _raise(exc_type: Type[Exception], message: str) -> None:
    raise exc_type(message)


def fail(args: Any) -> None:
    """Raise {"type": name, "message": text}; unknown names become new Exception subclasses."""
    name = str(_arg(args, "type", "RuntimeError"))
    message = str(_arg(args, "message", "fail requested"))
    _raise(_exception_type(name), message)


def crash(args: Any) -> None:
    """Die without replying: {"code": n} exits with n, {"signal": "KILL"} kills itself."""
    text = _arg(args, "stderr", None)
    if text:
        sys.stderr.write(str(text) + "\n")
        sys.stderr.flush()
    sig = _arg(args, "signal", None)
    if sig:
        os.kill(os.getpid(), getattr(signal, "SIG" + str(sig).upper().replace("SIG", "")))
    os._exit(int(_arg(args, "code", 1)))


def hang(args: Any) -> None:
    """Never return. {"ignore_term": true} also ignores SIGTERM; {"announce": text} prints text first;
    {"in_c": true} hangs inside C code that holds the GIL (a regular expression that backtracks for ages),
    where neither signal handlers nor other threads run."""
    if _arg(args, "ignore_term", False):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _announce(args)
    if _arg(args, "in_c", False):
        import re  # only here: not paid at start

        re.match(r"(a+)+$", "a" * 64 + "b")
    while True:
        time.sleep(3600)


def print_(args: Any) -> None:
    """Write {"stdout": text, "stderr": text} to the worker's own stdout and stderr."""
    out = _arg(args, "stdout", None)
    err = _arg(args, "stderr", None)
    if out is not None:
        print(out, flush=True)
    if err is not None:
        print(err, file=sys.stderr, flush=True)


def garbage(args: Any) -> None:
    """Write a malformed frame instead of a reply.

    mode "json" (default): a frame whose payload is not JSON;
    mode "length": a length prefix of 4 GiB - 1 and nothing after it;
    mode "id": a well-formed reply to a request id that was never sent;
    mode "envelope": JSON that is not a reply envelope.
    """
    req = current()
    mode = _arg(args, "mode", "json")
    if mode == "length":
        raw = HEADER.pack(0xFFFFFFFF)
    elif mode == "id":
        body = b'{"id":%d,"ok":true,"result":null}' % (req.id + 1000)
        raw = HEADER.pack(len(body)) + body
    elif mode == "envelope":
        body = b'{"hello":"world"}'
        raw = HEADER.pack(len(body)) + body
    else:
        body = b"{this is not json"
        raw = HEADER.pack(len(body)) + body
    req.reply = False
    req.worker.write_raw(raw)


def big(args: Any) -> str:
    """Return a string of args bytes (a number, or {"bytes": n})."""
    n = args if isinstance(args, int) else int(_arg(args, "bytes", 0))
    return "x" * n


METHODS: Dict[str, Callable[[Any], Any]] = {
    "echo": echo,
    "sleep": sleep,
    "fail": fail,
    "crash": crash,
    "hang": hang,
    "print": print_,
    "garbage": garbage,
    "big": big,
}
