"""The request a handler is serving, reachable from inside any handler.

    from pyharness_worker.context import current

    def predict(args):
        state = current().state        # per-session dict, cleared by reset
        ...
"""

import contextvars
from typing import TYPE_CHECKING, Any, Dict, Optional

if TYPE_CHECKING:  # pragma: no cover
    from .server import Worker


class Request:
    """One request being served: its envelope fields and the worker serving it."""

    __slots__ = ("id", "method", "args", "worker", "session", "deadline_ms", "reply", "stream", "credit", "cancelled", "seq")

    def __init__(self, id: int, method: str, args: Any, worker: "Worker", session: Optional[str] = None,
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

    def __repr__(self) -> str:
        return f"Request(id={self.id!r}, method={self.method!r}, session={self.session!r})"

    @property
    def state(self) -> Dict[str, Any]:
        """Per-session state; the session "" holds requests without a session id."""
        return self.worker.session_state(self.session or "")


_current: "contextvars.ContextVar[Request]" = contextvars.ContextVar("pyharness_request")


def current() -> Request:
    """The request being served; LookupError outside a handler."""
    return _current.get()


def activate(req: Request) -> "contextvars.Token[Request]":
    return _current.set(req)


def deactivate(token: "contextvars.Token[Request]") -> None:
    _current.reset(token)
