"""The primitives every other module of the worker builds on: the protocol's
constants, the request being served, and calls back into Go.

Dependencies flow one way: this module imports nothing of the package, and
server, bridge, context, builtin_methods and fault_methods import it (never
the reverse; python/tests/test_import_cycles.py checks). The public names
live on in bridge (call_go, GoError, ...) and context (current, Request).

A handler reaches the worker serving it through current().worker, typed
here as the Serving protocol: what the built-in methods and call_go use of
server.Worker, so this module needs no import of server.
"""

from __future__ import annotations

import contextvars

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Callable, Dict, List, Optional, Protocol

    class ImportLedger(Protocol):
        def names(self) -> List[str]: ...

    class Serving(Protocol):
        """What handlers may use of the worker serving them (server.Worker)."""

        worker_id: str
        max_frame: int
        started: float
        served: int
        user_modules: List[str]
        sessions: Dict[str, Dict[str, Any]]
        methods: Dict[str, Callable[[Any], Any]]
        imports: ImportLedger
        segments: bool

        def session_state(self, session: str) -> Dict[str, Any]: ...
        def reset_sessions(self, session: Optional[str]) -> int: ...
        def stop(self) -> None: ...
        def write_raw(self, data: bytes) -> None: ...
        def call_go(self, req: Request, name: str, args: Any) -> Any: ...


PROTOCOL_VERSION = 1
DEFAULT_MAX_FRAME = 64 << 20
# The smallest frame limit either side accepts: room for any error reply.
MIN_MAX_FRAME = 1024
# How deep values may nest (PROTOCOL.md, Values); deeper args are refused.
MAX_DEPTH = 500


class Request:
    """One request being served: its envelope fields and the worker serving it."""

    __slots__ = ("id", "method", "args", "worker", "session", "deadline_ms", "reply", "stream", "credit", "cancelled", "seq", "task", "waiter", "inbox", "behind")

    def __init__(self, id: int, method: str, args: Any, worker: Serving, session: Optional[str] = None,
                 deadline_ms: Optional[int] = None, reply: bool = True, stream: int = 0) -> None:
        self.id = id
        self.method = method
        self.args = args
        self.worker = worker
        self.session = session
        self.deadline_ms = deadline_ms
        self.reply = reply
        # A stream request (stream > 0): items may be sent while credit lasts.
        self.stream = stream
        self.credit = stream
        self.cancelled = False  # the caller sent $cancel
        self.seq = 0  # the last callback into Go
        # Multiplexed serving (server.py, --concurrency > 1): the asyncio
        # task running an async handler, and the future it awaits (credit
        # for its stream, or the $return of a callback into Go).
        self.task: Any = None
        self.waiter: Any = None
        # A sync handler running in one of a multiplexing worker's threads
        # (--sync-threads): the queue its control frames come on.
        self.inbox: Any = None
        # Written behind a running call (PROTOCOL.md, Pipelining): the
        # worker looks for its $cancel before it starts.
        self.behind = False

    def __repr__(self) -> str:
        return f"Request(id={self.id!r}, method={self.method!r}, session={self.session!r})"

    @property
    def state(self) -> Dict[str, Any]:
        """Per-session state; the session "" holds requests without a session id."""
        return self.worker.session_state(self.session or "")


_current: contextvars.ContextVar[Request] = contextvars.ContextVar("pyharness_request")


def current() -> Request:
    """The request being served; LookupError outside a handler."""
    return _current.get()


def activate(req: Request) -> contextvars.Token[Request]:
    return _current.set(req)


def deactivate(token: contextvars.Token[Request]) -> None:
    _current.reset(token)


class GoError(Exception):
    """A Go function called with call_go failed: kind says how (error,
    panic, goexit, too_large, unencodable, unknown_callback); type is the
    name Go gave it (GoError, GoPanic, GoExit, UnknownCallback)."""

    def __init__(self, type_name: str, message: str, kind: str = "error") -> None:
        super().__init__(message)
        self.type = type_name
        self.kind = kind


class UnknownCallback(GoError):
    """No Go function of that name is registered for the call, or the name
    is not a non-empty string."""

    def __init__(self, message: str) -> None:
        super().__init__("UnknownCallback", message, "unknown_callback")


class Cancelled(BaseException):
    """The Go caller cancelled the call this handler serves."""


def call_go(name: str, args: Any = None) -> Any:
    """Call the Go function registered as name with args (any JSON value)
    and return its result."""
    req = current()
    return req.worker.call_go(req, name, args)


async def acall_go(name: str, args: Any = None) -> Any:
    """call_go for async handlers. A worker serving one call at a time
    waits for Go's answer, as call_go does; a multiplexing worker
    (--concurrency > 1) lets its other calls run meanwhile."""
    req = current()
    acall = getattr(req.worker, "acall_go", None)
    if acall is None:
        return call_go(name, args)
    return await acall(req, name, args)
