"""The worker: serves requests from one stream socket until EOF, shutdown or SIGTERM."""

import os
import signal
import socket
import sys
import time
from typing import Any, Dict, Iterable, Optional

from . import DEFAULT_MAX_FRAME, builtin_methods, fault_methods
from .context import Request, activate, deactivate
from .framing import (
    FrameTooLarge,
    ProtocolViolation,
    TooDeep,
    dumps,
    dumps_text_reply,
    encode_frame,
    loads_request,
    read_frame,
)
from .handlers import Handler, handlers_of, register

EXIT_OK = 0
EXIT_START_FAILED = 2
EXIT_PROTOCOL = 4

_UNSERIALIZABLE = (TypeError, ValueError, UnicodeEncodeError, RecursionError)


def _error(kind: str, type_name: str, message: str, tb: str = "") -> Dict[str, str]:
    return {"kind": kind, "type": _text(type_name), "message": _text(message), "traceback": _text(tb)}


def _text(s: str) -> str:
    """s as UTF-8 can carry it: a lone surrogate (from a handler's message or
    a file name in a traceback) becomes its backslash escape."""
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return s.encode("utf-8", "backslashreplace").decode("utf-8")


def _describe(exc: BaseException) -> str:
    """str(exc), or a placeholder when the exception's __str__ itself fails."""
    try:
        return str(exc)
    except Exception as inner:  # a broken __str__ must not take the worker down
        return f"<{type(exc).__name__} object: str() raised {type(inner).__name__}>"


def _traceback() -> str:
    import traceback  # only when a handler raised: not paid at start

    try:
        return traceback.format_exc()
    except Exception as exc:  # pragma: no cover - format_exc guards __str__ itself
        return f"<traceback unavailable: {type(exc).__name__}>"


def _log(message: str) -> None:
    sys.stderr.write(f"pyharness_worker[{os.getpid()}]: {message}\n")
    sys.stderr.flush()


class Worker:
    """One worker serving one connection."""

    def __init__(
        self,
        sock: socket.socket,
        worker_id: str = "",
        max_frame: int = DEFAULT_MAX_FRAME,
        modules: Iterable[str] = (),
    ) -> None:
        self.sock = sock
        self.rfile = sock.makefile("rb", buffering=1 << 16)
        self.worker_id = worker_id
        self.max_frame = max_frame
        self.started = time.monotonic()
        self.served = 0
        self.user_modules = list(modules)
        self.sessions: Dict[str, Dict[str, Any]] = {}
        self.methods: Dict[str, Handler] = {}
        register(self.methods, "builtins", builtin_methods.METHODS)
        register(self.methods, "faults", fault_methods.METHODS)
        for name in self.user_modules:
            register(self.methods, name, handlers_of(name))
        self._stopping = False

    # -- helpers used by methods -------------------------------------------------

    def session_state(self, session: str) -> Dict[str, Any]:
        return self.sessions.setdefault(session, {})

    def reset_sessions(self, session: Optional[str]) -> int:
        if session is None:
            n = len(self.sessions)
            self.sessions.clear()
            return n
        return 1 if self.sessions.pop(session, None) is not None else 0

    def stop(self) -> None:
        self._stopping = True

    def write_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close(self) -> None:
        """Release the connection (the buffered reader holds a reference to the socket)."""
        for closer in (self.rfile.close, self.sock.close):
            try:
                closer()
            except OSError:
                pass

    # -- serving -----------------------------------------------------------------

    def send(self, envelope: Dict[str, Any]) -> None:
        body = dumps(envelope)
        if len(body) > self.max_frame and not envelope.get("ok", True):
            err = envelope["error"]
            body = self._fitting(envelope["id"], err["kind"], err["type"], err["message"])
        self.write_raw(encode_frame(body, self.max_frame))

    def serve(self) -> int:
        """Serve until EOF (exit 0), shutdown (0) or a protocol violation (4)."""
        while not self._stopping:
            try:
                payload = read_frame(self.rfile, self.max_frame)
            except EOFError:
                return EXIT_OK
            except (FrameTooLarge, ProtocolViolation) as exc:
                _log(f"protocol violation: {exc}")
                return EXIT_PROTOCOL
            try:
                req = self._parse(payload)
            except ProtocolViolation as exc:
                _log(f"protocol violation: {exc}")
                return EXIT_PROTOCOL
            if req is not None:
                self._handle(req)
        return EXIT_OK

    def _parse(self, payload: bytes) -> Optional[Request]:
        try:
            doc = loads_request(payload)
        except TooDeep as exc:
            rid = exc.request_id
            if not isinstance(rid, int) or rid < 0:
                raise ProtocolViolation(f"request is {exc} and has no readable id") from None
            self.send({"id": rid, "ok": False, "error": _error("bad_request", "BadRequest", f"args are {exc}")})
            return None
        if type(doc) is not dict:
            raise ProtocolViolation("request is not a JSON object")
        rid = doc.get("id")
        if type(rid) is not int or rid < 0:  # JSON gives int, never bool, for a number without a fraction
            raise ProtocolViolation(f"request id {rid!r} is not a non-negative integer")
        method = doc.get("method")
        session = doc.get("session")
        deadline = doc.get("deadline_ms")
        if type(method) is not str or not method:
            problem = "method must be a non-empty string"
        elif session is not None and type(session) is not str:
            problem = "session must be a string"
        elif deadline is not None and type(deadline) is not int:
            problem = "deadline_ms must be an integer"
        else:
            return Request(rid, method, doc.get("args"), self, session, deadline)
        self.send({"id": rid, "ok": False, "error": _error("bad_request", "BadRequest", problem)})
        return None

    def _handle(self, req: Request) -> None:
        self.served += 1
        handler = self.methods.get(req.method)
        if handler is None:
            message = f"unknown method {req.method!r}"
            self.send({"id": req.id, "ok": False, "error": _error("unknown_method", "UnknownMethod", message)})
            return
        token = activate(req)
        try:
            result = handler(req.args)
        except Exception as exc:  # the handler's answer; the worker lives on
            err = _error("exception", type(exc).__name__, _describe(exc), _traceback())
            envelope: Dict[str, Any] = {"id": req.id, "ok": False, "error": err}
        else:
            envelope = {"id": req.id, "ok": True, "result": result}
        finally:
            deactivate(token)
        if req.reply:
            self._reply(req, envelope)

    def _reply(self, req: Request, envelope: Dict[str, Any]) -> None:
        result = envelope.get("result")
        if type(result) is str:
            body = dumps_text_reply(req.id, result)
            if body is not None and len(body) <= self.max_frame:
                self.write_raw(encode_frame(body, self.max_frame))
                return
        try:
            body = dumps(envelope)
        except _UNSERIALIZABLE as exc:
            message = f"result of {req.method!r} is not JSON-serialisable: {exc}"
            err = _error("unserializable", type(exc).__name__, message)
            body = dumps({"id": req.id, "ok": False, "error": err})
        if len(body) > self.max_frame:
            message = f"reply of {req.method!r} is {len(body)} bytes, over the frame limit of {self.max_frame}"
            body = self._fitting(req.id, "too_large", "FrameTooLarge", message)
        self.write_raw(encode_frame(body, self.max_frame))

    def _fitting(self, rid: int, kind: str, type_name: str, message: str) -> bytes:
        """An error reply that fits the frame limit, its message cut if need be
        (the limit is at least MIN_MAX_FRAME, room for any bare error)."""
        body = dumps({"id": rid, "ok": False, "error": _error(kind, type_name, message)})
        while len(body) > self.max_frame and message:
            message = message[: len(message) // 2]
            body = dumps({"id": rid, "ok": False, "error": _error(kind, type_name, message + "...")})
        return body


def _on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(EXIT_OK)


def run(
    sock: socket.socket,
    worker_id: str,
    max_frame: int,
    modules: Iterable[str],
    greet: Optional[int] = None,
) -> int:
    """Build a worker on sock and serve; returns the process exit code.

    With greet, the worker first answers request id greet as ping would (a
    forked worker answering the request that created it).
    """
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        worker = Worker(sock, worker_id=worker_id, max_frame=max_frame, modules=modules)
    except Exception:
        import traceback

        _log("start failed:\n" + traceback.format_exc())
        if greet is not None:
            err = _error("exception", "StartFailed", traceback.format_exc(limit=1))
            sock.sendall(encode_frame(dumps({"id": greet, "ok": False, "error": err}), max_frame))
        sock.close()
        return EXIT_START_FAILED
    try:
        if greet is not None:
            worker.send({"id": greet, "ok": True, "result": builtin_methods.hello(worker)})
        return worker.serve()
    except (BrokenPipeError, ConnectionResetError) as exc:
        _log(f"connection lost: {exc}")
        return EXIT_OK
    finally:
        worker.close()
