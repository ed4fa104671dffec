"""The worker: serves requests from one stream socket until EOF, shutdown or SIGTERM."""

from __future__ import annotations

import io
import os
import select
try:  # the C module signal wraps, without the enums signal builds at import
    import _signal as signal
except ImportError:  # pragma: no cover - an interpreter without it
    import signal  # type: ignore[no-redef]
import sys
import time
from types import AsyncGeneratorType, CoroutineType, GeneratorType

from . import builtin_methods, fault_methods, phase
from .builtin_methods import EncodedJSON
from .core import DEFAULT_MAX_FRAME, Cancelled, GoError, Request, UnknownCallback, activate, deactivate
from .framing import (
    FrameTooLarge,
    ProtocolViolation,
    TooDeep,
    HEADER,
    LARGE_TEXT,
    dumps,
    dumps_small_reply,
    dumps_text_reply,
    encode_frame,
    loads,
    loads_request,
    read_frame,
    segmented_frame,
    segmented_text_reply,
    SEGMENT_MIN,
)
from .handlers import ImportFailed, handlers_of, register
from .imports import Ledger

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, Dict, Iterable, List, Optional, Set, Tuple

    import socket

    from .fdconn import FdConn
    from .handlers import Handler

EXIT_OK = 0
EXIT_START_FAILED = 2
EXIT_PROTOCOL = 4
# How long a turn of a multiplexing worker's event loop may take before
# it is reported as blocked (PROTOCOL.md, Concurrency; --slow-callback).
DEFAULT_SLOW_CALLBACK = 0.1

# At most this many $cancel frames of pipelined requests are kept at once
# (the Go side pipelines one request behind a call).
_MAX_AHEAD = 1024
_UNSERIALIZABLE = (TypeError, ValueError, UnicodeEncodeError, RecursionError)
_modules = sys.modules
_STREAMS = (GeneratorType, AsyncGeneratorType)
_CONTAINERS = (dict, list, tuple)


class _Broken(BaseException):
    """The connection failed while a call was being served: EOF (the Go
    side went away) or a protocol violation. Ends serve() with code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _error(kind: str, type_name: str, message: str, tb: str = "") -> Dict[str, str]:
    return {"kind": kind, "type": _text(type_name), "message": _text(message), "traceback": _text(tb)}


def _not_streamed(req: Request) -> Dict[str, Any]:
    """The reply to a plain call of a method that yields a stream (its generator closed)."""
    message = f"method {req.method!r} yields a stream: call it with Stream"
    return {"id": req.id, "ok": False, "error": _error("bad_request", "StreamingMethod", message)}


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
        sock: socket.socket | FdConn,
        worker_id: str = "",
        max_frame: int = DEFAULT_MAX_FRAME,
        modules: Iterable[str] = (),
        concurrency: int = 1,
        sync_threads: int = 0,
        slow_callback: float = DEFAULT_SLOW_CALLBACK,
    ) -> None:
        self.sock = sock
        # Buffered reads straight from the descriptor: FileIO reads in C,
        # where makefile's SocketIO runs Python code for every read (about
        # 1.5 us a call); the socket owns the descriptor.
        self.rfile = io.BufferedReader(io.FileIO(sock.fileno(), "rb", closefd=False), 1 << 16)
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
            phase.mark(f"handlers import: {name}")
            register(self.methods, name, handlers_of(name, "handler module"))
        # The modules handlers import (the `state` method reports them);
        # made last: the handler modules themselves are the worker's.
        self.imports = Ledger()
        self._stopping = False
        self._queued: List[bytes] = []  # requests read while a call was being served
        # Requests pipelined behind a running call whose $cancel came
        # before they started (PROTOCOL.md, Pipelining): answered
        # cancelled, in turn, without running.
        self._ahead: Set[int] = set()
        self._maybe_buffered = True  # a read may have left bytes in rfile's buffer
        # Up to this many async calls at once (PROTOCOL.md, Concurrency);
        # with more than one, serve() multiplexes (_Mux).
        self.concurrency = max(1, concurrency)
        multiplexing = self.concurrency > 1
        # Sync user handlers run in up to this many threads (0: inline on
        # the loop's thread), and a turn of the loop longer than
        # slow_callback seconds is reported (0: never); both only when
        # multiplexing.
        self.sync_threads = min(max(0, sync_threads), self.concurrency) if multiplexing else 0
        self.slow_callback = max(0.0, slow_callback) if multiplexing else 0.0
        self._mux: Optional[_Mux] = None
        # The Go side reads segmented frames (its ping said so): large
        # strings in results go out as segments.
        self.segments = False

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

    def in_flight(self) -> Optional[Dict[str, int]]:
        """A multiplexing worker's calls (info reports them): running as
        tasks, running in threads, waiting for room; None otherwise."""
        mux = self._mux
        if mux is None:
            return None
        return {"tasks": len(mux.active), "threads": len(mux.threaded), "waiting": len(mux.backlog)}

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
        if self.concurrency > 1:
            return _Mux(self).serve()
        while not self._stopping:
            try:
                payload = self._queued.pop(0) if self._queued else read_frame(self.rfile, self.max_frame)
                self._maybe_buffered = True
            except EOFError:
                return EXIT_OK
            except (FrameTooLarge, ProtocolViolation) as exc:
                _log(f"protocol violation: {exc}")
                return EXIT_PROTOCOL
            try:
                if self._plain(payload):
                    continue
            except _Broken as broken:
                if broken.code != EXIT_OK:
                    _log(f"protocol violation: {broken}")
                return broken.code
            try:
                req = self._parse(payload)
            except ProtocolViolation as exc:
                _log(f"protocol violation: {exc}")
                return EXIT_PROTOCOL
            if req is not None:
                try:
                    self._handle(req)
                except _Broken as broken:
                    if broken.code != EXIT_OK:
                        _log(f"protocol violation: {broken}")
                    return broken.code
        return EXIT_OK

    def _plain(self, payload: bytes) -> bool:
        """Serve payload if it is the common call, a small request of a
        known method (not a stream, not a control frame): what _parse and
        _handle do, in one step (one decode, the checks inline). False,
        having done nothing, for anything else: _parse and _handle then
        serve it (and answer or report what is wrong with it)."""
        if len(payload) >= LARGE_TEXT or payload[:1] == b"\x00":
            return False
        try:
            doc = loads(payload)
        except ProtocolViolation:  # TooDeep too: _parse answers it
            return False
        if type(doc) is not dict:
            return False
        rid = doc.get("id")
        method = doc.get("method")
        if type(rid) is not int or rid < 0 or type(method) is not str or not method or method[0] == "$":
            return False
        handler = self.methods.get(method)
        session = doc.get("session")
        deadline = doc.get("deadline_ms")
        behind = doc.get("behind")
        if (handler is None or doc.get("stream") is not None
                or behind is not None and type(behind) is not bool
                or session is not None and type(session) is not str
                or deadline is not None and type(deadline) is not int):
            return False
        req = Request(rid, method, doc.get("args"), self, session, deadline)
        if behind is True and self._cancelled_before_start(req):
            return True
        self.served += 1
        self._serve(req, handler)
        return True

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
        stream = doc.get("stream")
        if type(method) is str and method.startswith("$"):
            if self._mux is not None:
                self._mux.route(doc)  # a control frame of a call running as a task
            return None  # a control frame of a call that has ended (a late $cancel): nothing to do
        if type(method) is not str or not method:
            problem = "method must be a non-empty string"
        elif session is not None and type(session) is not str:
            problem = "session must be a string"
        elif deadline is not None and type(deadline) is not int:
            problem = "deadline_ms must be an integer"
        elif stream is not None and (type(stream) is not int or stream < 1):
            problem = "stream must be a positive integer (the items the caller takes before it grants more)"
        elif doc.get("behind") is not None and type(doc.get("behind")) is not bool:
            problem = "behind must be a boolean"
        else:
            req = Request(rid, method, doc.get("args"), self, session, deadline, stream=stream or 0)
            req.behind = doc.get("behind") is True and self._mux is None
            return req
        self.send({"id": rid, "ok": False, "error": _error("bad_request", "BadRequest", problem)})
        return None

    def _cancelled_before_start(self, req: Request) -> bool:
        """For a request written while another call ran (behind): look,
        without waiting, for frames sent since (its $cancel among them),
        and answer it cancelled, in turn and without running it, if its
        $cancel has come. False: serve it."""
        self._poll(req)  # its own $cancel marks it cancelled; requests behind it are queued
        if not req.cancelled and req.id not in self._ahead:
            return False
        self._ahead.discard(req.id)
        message = "cancelled by the caller before it started"
        self.send({"id": req.id, "ok": False, "error": _error("cancelled", "Cancelled", message)})
        return True

    def _handle(self, req: Request) -> None:
        if req.behind and self._cancelled_before_start(req):
            return
        self.served += 1
        handler = self.methods.get(req.method)
        if handler is None:
            message = f"unknown method {req.method!r}"
            self.send({"id": req.id, "ok": False, "error": _error("unknown_method", "UnknownMethod", message)})
            return
        self._serve(req, handler)

    def _serve(self, req: Request, handler: Handler) -> None:
        """Run req's handler as req's context, and reply."""
        token = activate(req)
        try:
            envelope = self._run(req, handler)
        finally:
            deactivate(token)
        if req.reply and envelope is not None:
            self._reply(req, envelope)

    def _run(self, req: Request, handler: Handler) -> Optional[Dict[str, Any]]:
        """Run handler for req: a plain result, a coroutine (run on the
        worker's event loop) or a stream (generator or async generator)."""
        imports = self.imports
        try:
            if len(_modules) != imports.seen:
                imports.worker_imported()
            try:
                result = handler(req.args)
            finally:
                if len(_modules) != imports.seen:
                    imports.handler_imported()
            if self._mux is not None and (type(result) is CoroutineType or type(result) is AsyncGeneratorType):
                self._mux.spawn(req, result)  # replies as it ends
                return None
            if type(result) is CoroutineType:
                result = self._run_async(req, result)
            if type(result) in _STREAMS:
                if not req.stream:
                    self._close_stream(result)
                    return _not_streamed(req)
                return self._stream(req, result)
            if req.stream:  # a plain result, asked for as a stream: one item
                if type(result) is EncodedJSON:
                    result = loads(result)
                return self._stream(req, iter((result,)))
            return {"id": req.id, "ok": True, "result": result}
        except Cancelled as exc:
            return {"id": req.id, "ok": False, "error": _error("cancelled", "Cancelled", _describe(exc) or "cancelled by the caller")}
        except Exception as exc:  # the handler's answer; the worker lives on
            return {"id": req.id, "ok": False, "error": _error("exception", type(exc).__name__, _describe(exc), _traceback())}

    def _handler_code(self, fn: Any, *args: Any) -> Any:
        """fn(*args), counting the modules imported meanwhile as the
        handler's (imports.py): a stream's next item, an async handler's run."""
        imports = self.imports
        if len(_modules) != imports.seen:
            imports.worker_imported()
        try:
            return fn(*args)
        finally:
            if len(_modules) != imports.seen:
                imports.handler_imported()

    # -- streams, cancellation, callbacks into Go ---------------------------------

    def _stream(self, req: Request, gen: Any) -> Dict[str, Any]:
        """Send gen's items while the caller's credit lasts; the final reply
        counts them. A $cancel closes gen (its finally runs) and answers
        cancelled; an item JSON cannot carry ends the stream with that error."""
        is_async = type(gen) is AsyncGeneratorType
        sent = 0
        try:
            while True:
                self._poll(req)
                if req.cancelled:
                    raise Cancelled(f"stream {req.method!r} cancelled by the caller after {sent} items")
                try:
                    item = self._run_async(req, gen.__anext__()) if is_async else self._handler_code(next, gen)
                except (StopIteration, StopAsyncIteration):
                    break
                try:
                    body = dumps({"id": req.id, "item": item})
                except _UNSERIALIZABLE as exc:
                    self._close_stream(gen)
                    message = f"item {sent} of {req.method!r} is not JSON-serialisable: {exc}"
                    return {"id": req.id, "ok": False, "error": _error("unserializable", type(exc).__name__, message)}
                frame = self.item_frame(req.id, item, body)
                if frame is None:
                    self._close_stream(gen)
                    message = f"item {sent} of {req.method!r} is {len(body)} bytes, over the frame limit of {self.max_frame}"
                    return {"id": req.id, "ok": False, "error": _error("too_large", "FrameTooLarge", message)}
                self.write_raw(frame)
                sent += 1
                req.credit -= 1
                while req.credit <= 0 and not req.cancelled:
                    self._control(req)
            return {"id": req.id, "ok": True, "result": {"items": sent}}
        except BaseException:
            self._close_stream(gen)
            raise

    def item_frame(self, rid: int, item: Any, body: bytes) -> Optional[bytes]:
        """The frame of stream item item (body: its plain envelope): with
        its large strings as segments when the Go side reads them, else
        plain; None when it does not fit max_frame."""
        if self.segments and len(body) >= SEGMENT_MIN and (type(item) is str or type(item) in _CONTAINERS):
            frame = segmented_frame({"id": rid, "item": item}, self.max_frame)
            if frame is not None:
                return frame
        if len(body) > self.max_frame:
            return None
        return encode_frame(body, self.max_frame)

    def _close_stream(self, gen: Any) -> None:
        """Close a generator so its finally blocks run; what they raise is logged."""
        try:
            if type(gen) is AsyncGeneratorType:
                loop = self._event_loop()
                self._handler_code(loop.run_until_complete, gen.aclose())
            elif type(gen) is GeneratorType:
                self._handler_code(gen.close)
        except Exception as exc:
            _log(f"closing a stream raised {type(exc).__name__}: {_describe(exc)}")

    def _control(self, req: Request) -> Any:
        """Read control frames for req (blocking) until one of its own:
        $credit and $cancel update it; $return's args are returned. Control
        frames of earlier calls are skipped; a request pipelined behind the
        call is kept for after it."""
        if req.inbox is not None:
            return _thread_control(req)  # a sync call in a thread: the loop routes its frames to it
        while True:
            own, value = self._take(req, self._frame_during())
            if own:
                return value

    def _frame_during(self) -> bytes:
        """The next frame read while a call runs (blocking)."""
        try:
            return self._next_frame()
        except EOFError:
            raise _Broken(EXIT_OK, "the caller went away mid-call") from None
        except ProtocolViolation as exc:
            raise _Broken(EXIT_PROTOCOL, str(exc)) from None

    def _take(self, req: Request, payload: bytes) -> Tuple[bool, Any]:
        """Apply one frame read while req runs: (True, value) for a control
        frame of req's own ($return's args as value), (False, None) for a
        request pipelined behind it (kept for after it) or a control frame
        of another call."""
        if payload[:1] == b"\x00":  # segmented: a request (control frames never are), served after this call
            self._queued.append(payload)
            return False, None
        try:
            doc = loads(payload)
        except ProtocolViolation as exc:
            raise _Broken(EXIT_PROTOCOL, str(exc)) from None
        method = doc.get("method") if type(doc) is dict else None
        if type(method) is not str or not method.startswith("$"):
            self._queued.append(payload)  # pipelined behind this call (a health probe): served after it
            return False, None
        if doc.get("id") != req.id:
            self._other_control(doc, method, req.id)
            return False, None
        args = doc.get("args")
        if method == "$credit":
            if type(args) is not int or args < 1:
                raise _Broken(EXIT_PROTOCOL, f"$credit of {args!r}")
            req.credit += args
            return True, None
        if method == "$cancel":
            req.cancelled = True
            task = req.task or getattr(self, "_task", None)
            if task is not None:
                task.cancel()  # an async handler: CancelledError at its next await
            return True, None
        if method == "$return":
            return True, args
        raise _Broken(EXIT_PROTOCOL, f"unknown control frame {method!r}")

    def _other_control(self, doc: Dict[str, Any], method: str, running: int) -> None:
        """Apply a control frame of a call other than the running one: a
        multiplexing worker routes it to its call; a $cancel of a request
        pipelined behind (a later id) is kept for when that request comes
        up; a late one of an earlier call is dropped."""
        if self._mux is not None:
            self._mux.route(doc)
            return
        rid = doc.get("id")
        if method == "$cancel" and type(rid) is int and rid > running and len(self._ahead) < _MAX_AHEAD:
            self._ahead.add(rid)

    def _next_frame(self) -> bytes:
        """The next frame from the caller (blocking); EOFError at its end."""
        if self._mux is not None:
            return self._mux.next_frame()
        payload = read_frame(self.rfile, self.max_frame)
        self._maybe_buffered = True
        return payload

    def _poll(self, req: Request) -> None:
        """Read the control frames that have arrived, without waiting."""
        if req.inbox is not None:
            while not req.inbox.empty():
                self._control(req)
            return
        if self._mux is not None:
            while self._mux.pending():
                self._take(req, self._frame_during())
            return
        # One frame per look: a request pipelined behind the call (a probe)
        # is kept, and the look goes on without waiting for another frame.
        while self._arrived():
            self._take(req, self._frame_during())

    def _arrived(self) -> bool:
        """Whether bytes of a frame wait, without waiting for any: after a
        read, the look at the buffer also reads what the socket holds (one
        non-blocking read); else one select of the socket."""
        if self._maybe_buffered:
            return self._buffered()
        return bool(select.select([self.sock], [], [], 0)[0])

    def _buffered(self, req: Optional[Request] = None) -> bool:
        """Whether bytes already read from the socket wait in the buffer.
        Only a read can have left some: after a look that found none, the
        answer stays no until the next read (no syscalls per stream item)."""
        if req is not None and req.inbox is not None:
            return not req.inbox.empty()
        if self._mux is not None:
            return self._mux.pending()
        if not self._maybe_buffered:
            return False
        self.sock.setblocking(False)
        try:
            found = bool(self.rfile.peek(1))
        except (BlockingIOError, InterruptedError):
            found = False
        finally:
            self.sock.setblocking(True)
        self._maybe_buffered = found
        return found

    def _cancelled(self, req: Request, message: str) -> BaseException:
        """What a cancelled call raises in its handler: asyncio's
        CancelledError inside an async handler (its task is being
        cancelled), Cancelled in a plain one."""
        if req.task is not None or getattr(self, "_task", None) is not None:
            import asyncio

            return asyncio.CancelledError(message)
        return Cancelled(message)

    def call_go(self, req: Request, name: str, args: Any) -> Any:
        """Call the Go function name for req's handler (bridge.call_go)."""
        if req.cancelled:
            raise self._cancelled(req, f"call {req.method!r} was cancelled by its Go caller")
        seq = self._callback_frame(req, name, args)
        while True:
            ret = self._control(req)
            if req.cancelled:
                raise self._cancelled(req, f"call {req.method!r} was cancelled by its Go caller while {name!r} ran in Go")
            if type(ret) is dict and ret.get("seq") == seq:
                while self._buffered(req):  # a $cancel right behind the answer
                    self._control(req)
                if req.cancelled:
                    raise self._cancelled(req, f"call {req.method!r} was cancelled by its Go caller")
                return _go_result(ret)

    def _callback_frame(self, req: Request, name: str, args: Any) -> int:
        """Check name, send req's callback frame for it; its seq."""
        if type(name) is not str or not name or not _encodable(name):
            raise UnknownCallback(f"callback name {name!r} is not a valid name: it must be a non-empty string")
        req.seq += 1
        envelope = {"id": req.id, "callback": {"seq": req.seq, "name": name, "args": args}}
        try:
            body = dumps(envelope)
        except _UNSERIALIZABLE as exc:
            raise TypeError(f"args of call_go({name!r}) are not JSON-serialisable: {exc}") from None
        if self.segments and len(body) >= SEGMENT_MIN:
            frame = segmented_frame(envelope, self.max_frame)  # large args as segments, as a result's
            if frame is not None:
                self.write_raw(frame)
                return req.seq
        self.write_raw(encode_frame(body, self.max_frame))
        return req.seq

    def _event_loop(self) -> Any:
        """The worker's event loop for async handlers, made on first use and
        kept: it survives cancelled calls."""
        loop = getattr(self, "_loop", None)
        if loop is None:
            import asyncio  # only for async handlers: not paid at start

            loop = self._loop = asyncio.new_event_loop()
        return loop

    def _run_async(self, req: Request, awaitable: Any) -> Any:
        """Run awaitable on the event loop until done; a $cancel from the
        caller cancels its task (CancelledError in the handler), raising
        Cancelled here."""
        import asyncio

        loop = self._event_loop()
        task = loop.create_task(awaitable) if type(awaitable) is CoroutineType else asyncio.ensure_future(awaitable, loop=loop)
        broken: list = []

        def readable() -> None:
            try:  # what has arrived, one frame at a time: never wait on the loop for another
                while True:
                    self._take(req, self._frame_during())
                    if not self._buffered():
                        break
            except _Broken as exc:
                broken.append(exc)
                task.cancel()
                return
            if req.cancelled:
                task.cancel()

        fd = self.sock.fileno()
        loop.add_reader(fd, readable)
        outer, self._task = getattr(self, "_task", None), task
        try:
            if self._buffered():
                readable()
            return self._handler_code(loop.run_until_complete, task)
        except asyncio.CancelledError:
            if broken:
                raise broken[0] from None
            raise Cancelled(f"call {req.method!r} cancelled by the caller") from None
        finally:
            self._task = outer
            loop.remove_reader(fd)

    def _reply(self, req: Request, envelope: Dict[str, Any]) -> None:
        result = envelope.get("result")
        if envelope.get("ok"):
            body = dumps_small_reply(req.id, result)  # a small str, int, bool or None
            if body is not None and len(body) <= self.max_frame:
                self.write_raw(HEADER.pack(len(body)) + body)
                return
        if type(result) is EncodedJSON:
            self.write_raw(encode_frame(b'{"id":%d,"ok":true,"result":%s}' % (req.id, result), self.max_frame))
            return
        if self.segments and type(result) is str and len(result) >= SEGMENT_MIN:
            frame = segmented_text_reply(req.id, result, self.max_frame)
            if frame is not None:
                self.write_raw(frame)
                return
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
        else:
            # Only a body that long can hold a string of SEGMENT_MIN
            # characters: a small reply is never walked.
            if self.segments and len(body) >= SEGMENT_MIN and type(result) in _CONTAINERS:
                frame = segmented_frame(envelope, self.max_frame)
                if frame is not None:
                    self.write_raw(frame)
                    return
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


def _go_result(ret: Dict[str, Any]) -> Any:
    """The result of a callback into Go from its $return args, or its error raised."""
    if ret.get("ok"):
        return ret.get("result")
    err = ret.get("error") if type(ret.get("error")) is dict else {}
    kind = str(err.get("kind") or "error")
    if kind == "unknown_callback":
        raise UnknownCallback(str(err.get("message") or ""))
    raise GoError(str(err.get("type") or "GoError"), str(err.get("message") or ""), kind)


def _who(req: Request) -> str:
    """How the blocked-loop report and a ping names the call: its task's name."""
    return f"handler {req.method!r} (call {req.id})"


def _thread_control(req: Request) -> Any:
    """Worker._control for a sync call running in a thread: the loop routes
    the call's control frames to req.inbox (_Mux.route)."""
    kind, value = req.inbox.get()
    if kind == "credit":
        req.credit += value  # only this thread changes the credit of its call
        return None
    if kind == "return":
        return value
    if kind == "end":
        raise _Broken(EXIT_OK, "the connection ended mid-call")
    return None  # "cancel": req.cancelled is set


class _SyncCall:
    """A sync call waiting in the backlog for a thread (--sync-threads)."""

    __slots__ = ("handler",)

    def __init__(self, handler: Handler) -> None:
        self.handler = handler


class _TimedSelector:
    """The loop's selector, timing each turn of the loop (the work between
    two selects): a turn longer than the threshold is reported once it
    ends, and the watchdog and the reader thread see a turn in progress
    (busy_since). Two monotonic() calls a turn."""

    def __init__(self, inner: Any, mux: _Mux) -> None:
        self.inner = inner
        self.mux = mux

    def select(self, timeout: Optional[float] = None) -> Any:
        mux = self.mux
        since = mux.busy_since
        if since is not None:
            mux.busy_since = None
            took = time.monotonic() - since
            if took > mux.threshold:
                mux.report_blocked(since, took)
        try:
            return self.inner.select(timeout)
        finally:
            mux.busy_since = time.monotonic()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class _Mux:
    """Serving up to worker.concurrency calls at once (PROTOCOL.md,
    Concurrency): async handlers (async def, async generators) run as tasks
    on the worker's event loop and reply as each ends, in any order. Sync
    handlers run inline on the loop's thread (while one runs, the tasks
    wait), or, with worker.sync_threads, sync user handlers run in that many
    threads, counted with the tasks against the limit; built-in methods
    (pings among them) always run inline. A reader thread is the only reader
    of the socket: it hands each frame to the loop (and to a sync handler
    waiting inline for its control frames); the loop routes the control
    frames of a call in a thread to that call's queue. Every frame is
    written whole under one lock: the loop writes replies, a call in a
    thread its stream items and callbacks, the reader thread a ping's reply
    while the loop is blocked.

    With worker.slow_callback, a turn of the loop longer than that is
    reported on stderr naming the task (or inline call) a watchdog thread
    saw running, and a ping arriving meanwhile is answered by the reader
    thread with how long the loop has been blocked and by what."""

    def __init__(self, worker: Worker) -> None:
        import asyncio  # only for a multiplexing worker: not paid at start
        import queue
        import threading

        self.asyncio = asyncio
        self.worker = worker
        self.loop = worker._event_loop()
        self.inbox: Any = queue.SimpleQueue()
        self.active: Dict[int, Request] = {}  # calls running as tasks, by id
        self.started: Dict[int, Any] = {}  # their coroutines or streams
        self.backlog: List[Any] = []  # (request, coroutine, stream or _SyncCall) beyond the limit, started as calls end
        self.code: Optional[int] = None
        self.thread = threading.Thread(target=self._read, name="pyharness-reader", daemon=True)
        self.threading = threading
        self.wlock = threading.Lock()
        self.loop_ident = 0
        # Sync user handlers in threads (--sync-threads): the calls running
        # there, by id, the jobs for the threads, how many threads there are.
        self.sync_threads = worker.sync_threads
        self.threadable: Any = frozenset()
        if self.sync_threads:
            import inspect

            own = set(builtin_methods.METHODS) | set(fault_methods.METHODS)
            self.threadable = frozenset(
                name for name, fn in worker.methods.items()
                if name not in own and not inspect.iscoroutinefunction(fn) and not inspect.isasyncgenfunction(fn)
            )
        self.threaded: Dict[int, Request] = {}
        self.handoffs: Dict[int, Any] = {}  # coroutines sync handlers in threads returned, to run as tasks
        self.jobs: Any = queue.SimpleQueue()
        self.pool = 0
        # Blocked-loop detection (--slow-callback): the start of the loop's
        # turn in progress (None while it waits in select), the call being
        # served inline, and the watchdog's last look at a long turn.
        self.threshold = worker.slow_callback
        self.busy_since: Optional[float] = None
        self.inline: Optional[Request] = None
        self.culprit: Any = None  # (busy_since, name)
        self.parked: Dict[int, bytes] = {}  # pings handed to the loop that the reader answers if a turn blocks first
        self.answered: Set[int] = set()  # of them, those the reader answered: the loop drops them
        self.watching = threading.Event()

    def serve(self) -> int:
        worker = self.worker
        worker._mux = self
        worker.acall_go = self.acall_go  # type: ignore[attr-defined]
        worker.write_raw = self.write  # type: ignore[method-assign]
        self.loop_ident = self.threading.get_ident()
        timed = None
        if self.threshold > 0 and hasattr(self.loop, "_selector"):
            timed = self.loop._selector = _TimedSelector(self.loop._selector, self)
            watchdog = self.threading.Thread(target=self._watch, name="pyharness-watchdog", daemon=True)
            watchdog.start()
        self.thread.start()
        try:
            self.loop.run_forever()
        finally:
            self.watching.set()  # the watchdog ends
            if timed is not None:
                self.loop._selector = timed.inner
                self.busy_since = None
            for req in list(self.threaded.values()):
                req.inbox.put(("end", None))  # a call in a thread waiting for Go ends; one in user code runs on
            for _ in range(self.pool):
                self.jobs.put(None)
            worker._mux = None
            tasks = [req.task for req in self.active.values() if req.task is not None]
            for task in tasks:
                task.cancel()  # their replies are not sent: the connection is ending
            if tasks:
                try:  # let their finally blocks run
                    self.loop.run_until_complete(self.asyncio.wait(tasks, timeout=0.5))
                except BaseException as exc:  # pragma: no cover - ending anyway
                    _log(f"ending calls in flight raised {type(exc).__name__}: {_describe(exc)}")
            for result in [*self.started.values(), *(result for _, result in self.backlog), *self.handoffs.values()]:
                if type(result) is CoroutineType:
                    result.close()  # one cancelled before its task began, or never started
            del worker.write_raw  # type: ignore[attr-defined]
        return self.code if self.code is not None else EXIT_OK

    def write(self, data: bytes) -> None:
        """Worker.write_raw while multiplexing: each frame whole, whichever thread writes it."""
        with self.wlock:
            self.worker.sock.sendall(data)

    def _read(self) -> None:
        """The reader thread: every frame to the inbox, then wake the loop."""
        worker = self.worker
        while True:
            item: Any
            try:
                item = read_frame(worker.rfile, worker.max_frame)
            except EOFError:
                item = None
            except ProtocolViolation as exc:
                item = exc
            except (OSError, ValueError):  # the socket was closed under us
                item = None
            if self.threshold > 0 and type(item) is bytes:
                try:
                    if self._hold_ping(item):
                        continue
                except Exception as exc:  # pragma: no cover - the loop answers it, then
                    _log(f"answering a ping while the loop is blocked raised {type(exc).__name__}: {_describe(exc)}")
            self.inbox.put(item)
            try:
                self.loop.call_soon_threadsafe(self.drain)
            except RuntimeError:  # the loop is closed: the worker is ending
                return
            if type(item) is not bytes:
                return

    def next_frame(self) -> bytes:
        """The next frame, for a sync handler waiting inline (blocking)."""
        item = self.inbox.get()
        if item is None:
            self.inbox.put(None)  # the loop sees the end too
            raise EOFError
        if isinstance(item, BaseException):
            raise item
        return item

    def pending(self) -> bool:
        return not self.inbox.empty()

    def drain(self) -> None:
        """Serve the frames that have arrived (on the loop)."""
        worker = self.worker
        import queue

        try:
            while self.code is None:
                if worker._queued:
                    item = worker._queued.pop(0)
                else:
                    try:
                        item = self.inbox.get_nowait()
                    except queue.Empty:
                        return
                self._dispatch(item)
        except _Broken as broken:
            self.end(broken.code, str(broken))
        except (BrokenPipeError, ConnectionResetError) as exc:
            _log(f"connection lost: {exc}")
            self.end(EXIT_OK)

    def _dispatch(self, item: Any) -> None:
        worker = self.worker
        if item is None:
            self.end(EXIT_OK)
            return
        if isinstance(item, BaseException):
            self.end(EXIT_PROTOCOL, str(item))
            return
        try:
            req = worker._parse(item)
        except ProtocolViolation as exc:
            self.end(EXIT_PROTOCOL, str(exc))
            return
        if req is None:
            return
        if req.method == "ping" and (self.parked or self.answered) and self.taken_by_reader(req.id):
            return
        if req.method in self.threadable:
            worker.served += 1
            self.submit(req, worker.methods[req.method])
            return
        self.inline = req
        try:
            worker._handle(req)
        finally:
            self.inline = None
        if worker._stopping:
            self.end(EXIT_OK)

    def _room(self, sync: bool) -> bool:
        """Whether one more call may start: calls in threads and tasks
        together stay within the limit, calls in threads within the threads."""
        threaded = len(self.threaded)
        if threaded + len(self.active) >= self.worker.concurrency:
            return False
        return not sync or threaded < self.sync_threads

    def _start_backlog(self) -> None:
        """Start the waiting calls there is room for, in order (a sync call
        waiting for a thread does not hold back a coroutine behind it)."""
        i = 0
        while i < len(self.backlog) and self.code is None:
            req, result = self.backlog[i]
            sync = type(result) is _SyncCall
            if not self._room(sync):
                if not self._room(False):
                    return  # the limit's worth runs
                i += 1
                continue
            del self.backlog[i]
            if sync:
                self._start_thread_call(req, result.handler)
            else:
                self.spawn(req, result)

    # -- sync handlers in threads (--sync-threads) --------------------------------

    def submit(self, req: Request, handler: Handler) -> None:
        """Run a sync user handler's call in a thread, or, with the
        limit's worth running or every thread busy, as soon as one ends."""
        if not self._room(True):
            self.backlog.append((req, _SyncCall(handler)))
            return
        self._start_thread_call(req, handler)

    def _start_thread_call(self, req: Request, handler: Handler) -> None:
        import queue

        req.inbox = queue.SimpleQueue()
        self.threaded[req.id] = req
        if self.pool < len(self.threaded):  # threads are started as the calls need them
            self.pool += 1
            self.threading.Thread(target=self._pool_thread, name=f"pyharness-sync-{self.pool}", daemon=True).start()
        self.jobs.put((req, handler))

    def _pool_thread(self) -> None:
        """One of the threads sync user handlers run in: each call as
        Worker._run runs it inline (its stream items and callbacks written
        from here), its reply handed to the loop."""
        worker = self.worker
        while True:
            job = self.jobs.get()
            if job is None:
                return
            req, handler = job
            outcome: Any
            token = activate(req)
            try:
                outcome = worker._run(req, handler)
            except BaseException as exc:  # _Broken, SystemExit: for the loop to act on
                outcome = exc
            finally:
                deactivate(token)
            try:
                self.loop.call_soon_threadsafe(self._thread_done, req, outcome)
            except RuntimeError:  # the loop is closed: the worker is ending
                return

    def _thread_done(self, req: Request, outcome: Any) -> None:
        """A call in a thread ended (on the loop): its reply goes out here."""
        self.threaded.pop(req.id, None)
        req.inbox = None
        handoff = self.handoffs.pop(req.id, None)
        if handoff is not None:
            if self.code is None:
                self.spawn(req, handoff)  # its thread's slot becomes its task's
            elif type(handoff) is CoroutineType:
                handoff.close()
        if self.backlog and self.code is None:
            self._start_backlog()  # before the reply: once Go sees it, the thread has gone to the next call
        try:
            if isinstance(outcome, _Broken):
                self.end(outcome.code, str(outcome))
            elif isinstance(outcome, BaseException):
                raise outcome  # as from a handler run inline (SystemExit)
            elif outcome is not None and req.reply and self.code is None:
                self.worker._reply(req, outcome)
        except (BrokenPipeError, ConnectionResetError) as exc:
            _log(f"connection lost: {exc}")
            self.end(EXIT_OK)

    # -- a blocked loop (--slow-callback) ------------------------------------------

    def _running(self) -> str:
        """What the loop's thread is running (read from another thread):
        the task being stepped, else the call served inline."""
        try:
            task = self.asyncio.current_task(self.loop)
        except RuntimeError:  # pragma: no cover - the loop ended meanwhile
            task = None
        if task is not None:
            return task.get_name()
        req = self.inline
        if req is not None:
            return _who(req)
        return "a callback of the event loop"

    def _watch(self) -> None:
        """The watchdog thread: looks every half threshold (at most 100
        times a second) at the loop, and names what runs in a turn that has
        lasted that long."""
        period = max(self.threshold / 2, 0.01)
        while not self.watching.wait(period):
            since = self.busy_since
            if since is not None and time.monotonic() - since >= period:
                self.culprit = (since, self._running())

    def report_blocked(self, since: float, took: float) -> None:
        """A turn of the loop lasted took seconds (on the loop, as it ends)."""
        culprit = self.culprit
        who = culprit[1] if culprit is not None and culprit[0] == since else "a callback of the event loop"
        try:
            sys.stderr.write(f"pyharness: {who} blocked the event loop for {took:.3f} s\n")
            sys.stderr.flush()
        except (OSError, ValueError):  # pragma: no cover - stderr gone
            pass

    def _ping_id(self, payload: bytes) -> Optional[int]:
        """The id of a well-formed ping (no stream), else None: the loop
        answers anything else, bad requests included."""
        if b'"ping"' not in payload:
            return None
        try:
            doc = loads(payload)
        except (ProtocolViolation, TooDeep):
            return None
        if type(doc) is not dict or doc.get("method") != "ping":
            return None
        rid, session, deadline = doc.get("id"), doc.get("session"), doc.get("deadline_ms")
        if type(rid) is not int or rid < 0 or doc.get("stream") is not None:
            return None
        if session is not None and type(session) is not str or deadline is not None and type(deadline) is not int:
            return None
        return rid

    def _blocked(self) -> Optional[Tuple[float, float]]:
        """(since, seconds) of a turn of the loop that has lasted past the threshold, else None."""
        since = self.busy_since
        if since is None:
            return None
        blocked = time.monotonic() - since
        return (since, blocked) if blocked > self.threshold else None

    def _hold_ping(self, payload: bytes) -> bool:
        """A ping (PROTOCOL.md, Concurrency, pings while the loop is
        blocked): answered here at once when a turn of the loop has lasted
        past the threshold; else handed to the loop, and answered here
        after all if a turn blocks past the threshold before the loop has
        taken it (a ping that arrives between two turns, the second of which
        blocks). True when this thread has dealt with the frame. Only a ping
        makes the reader wait, and only until the loop takes it."""
        rid = self._ping_id(payload)
        if rid is None:
            return False
        blocked = self._blocked()
        if blocked is not None:
            self._answer_ping(rid, *blocked)
            return True
        self.parked[rid] = payload
        self.inbox.put(payload)
        try:
            self.loop.call_soon_threadsafe(self.drain)
        except RuntimeError:  # the loop is closed: the worker is ending
            return True
        step = 0.0002
        while rid in self.parked:
            blocked = self._blocked()
            if blocked is not None:
                self.answered.add(rid)  # before taking it back: see taken_by_reader
                if self.parked.pop(rid, None) is None:
                    self.answered.discard(rid)  # the loop took it first
                else:
                    self._answer_ping(rid, *blocked)
                return True
            time.sleep(step)
            step = min(step * 2, 0.02)
        return True

    def taken_by_reader(self, rid: int) -> bool:
        """On the loop, for a ping it is about to serve: whether the reader
        thread answered it already (then the loop drops it)."""
        if self.parked.pop(rid, None) is not None:
            return False
        if rid in self.answered:
            self.answered.discard(rid)
            return True
        return False

    def _answer_ping(self, rid: int, since: float, blocked: float) -> None:
        """Answer ping rid from the reader thread while the loop is blocked."""
        result = builtin_methods.ping_of(self.worker)
        who = self._running()
        if self.busy_since == since:
            self.culprit = (since, who)  # the report names it too, whatever the watchdog saw
        body = b'{"id":%d,"ok":true,"result":%s,"loop_blocked":%s,"blocked_by":%s}}' % (
            rid, result[:-1], repr(round(blocked, 3)).encode(), dumps(who))
        try:
            self.write(encode_frame(body, self.worker.max_frame))
        except OSError:  # the connection is gone: the reader sees its end next
            pass

    def end(self, code: int, message: str = "") -> None:
        if self.code is None:
            if code != EXIT_OK:
                _log(f"protocol violation: {message}")
            self.code = code
            self.loop.stop()

    def route(self, doc: Dict[str, Any]) -> None:
        """A control frame for a call running as a task or in a thread."""
        rid = doc.get("id")
        req = self.active.get(rid)  # type: ignore[arg-type]
        if req is None and rid in self.threaded:
            self._route_to_thread(self.threaded[rid], doc)  # type: ignore[index]
            return
        if req is None:
            if doc.get("method") == "$cancel":
                self._cancel_waiting(rid)
            return  # a late control frame of a call that has ended
        method, args = doc.get("method"), doc.get("args")
        if method == "$credit":
            if type(args) is not int or args < 1:
                raise _Broken(EXIT_PROTOCOL, f"$credit of {args!r}")
            req.credit += args
            self._wake(req, "credit", None)
        elif method == "$cancel":
            req.cancelled = True
            if req.task is not None:
                req.task.cancel()
        elif method == "$return":
            self._wake(req, "return", args)
        else:
            raise _Broken(EXIT_PROTOCOL, f"unknown control frame {method!r}")

    def _route_to_thread(self, req: Request, doc: Dict[str, Any]) -> None:
        """A control frame for a sync call in a thread: to its queue."""
        method, args = doc.get("method"), doc.get("args")
        if method == "$credit":
            if type(args) is not int or args < 1:
                raise _Broken(EXIT_PROTOCOL, f"$credit of {args!r}")
            req.inbox.put(("credit", args))
        elif method == "$cancel":
            req.cancelled = True  # a plain handler cannot be interrupted: it answers as it ends
            req.inbox.put(("cancel", None))
        elif method == "$return":
            req.inbox.put(("return", args))
        else:
            raise _Broken(EXIT_PROTOCOL, f"unknown control frame {method!r}")

    def _cancel_waiting(self, rid: Any) -> None:
        """Cancel a call still waiting for a slot: it never starts."""
        for i, (req, result) in enumerate(self.backlog):
            if req.id == rid:
                del self.backlog[i]
                if type(result) is CoroutineType:
                    result.close()
                elif type(result) is not _SyncCall:
                    self.loop.create_task(self._aclose(result))
                message = f"call {req.method!r} cancelled by the caller before it started"
                if req.reply:
                    self.worker.send({"id": req.id, "ok": False, "error": _error("cancelled", "Cancelled", message)})
                return

    def _wake(self, req: Request, kind: str, value: Any) -> None:
        waiter = req.waiter
        if waiter is not None and waiter[0] == kind and not waiter[1].done():
            waiter[1].set_result(value)

    async def _wait(self, req: Request, kind: str) -> Any:
        fut = self.loop.create_future()
        req.waiter = (kind, fut)
        try:
            return await fut
        finally:
            req.waiter = None

    def spawn(self, req: Request, result: Any) -> None:
        """Run an async handler's coroutine or stream as a task, or, with
        the limit's worth running, as soon as one ends (sync handlers run
        inline, pings among them, are never held back by the limit)."""
        if self.threading.get_ident() != self.loop_ident:  # a sync handler in a thread returned it
            self.handoffs[req.id] = result  # spawned as the thread's call ends (_thread_done)
            return
        if not self._room(False):
            self.backlog.append((req, result))
            return
        self.active[req.id] = req
        self.started[req.id] = result
        req.task = self.loop.create_task(self._task(req, result), name=_who(req))
        req.task.add_done_callback(lambda _: self._done(req))

    def _done(self, req: Request) -> None:
        """A task cancelled before its first step never ran _task: answer
        its call here."""
        if self.active.get(req.id) is not req:
            return  # _task ran and answered
        self.active.pop(req.id, None)
        result = self.started.pop(req.id, None)
        req.task = None
        if type(result) is CoroutineType:
            result.close()
        elif result is not None:
            self.loop.create_task(self._aclose(result))
        if self.backlog and self.code is None:
            self._start_backlog()  # before the reply, as _task does
        if req.reply and self.code is None:
            message = f"call {req.method!r} cancelled by the caller"
            try:
                self.worker.send({"id": req.id, "ok": False, "error": _error("cancelled", "Cancelled", message)})
            except (BrokenPipeError, ConnectionResetError) as exc:
                _log(f"connection lost: {exc}")
                self.end(EXIT_OK)

    async def _task(self, req: Request, result: Any) -> None:
        worker = self.worker
        activate(req)  # in the task's own context
        try:
            try:
                if type(result) is CoroutineType:
                    envelope = await self._tail(req, await result)
                else:
                    envelope = await self._astream(req, result)
            except self.asyncio.CancelledError:
                envelope = {"id": req.id, "ok": False, "error": _error("cancelled", "Cancelled", f"call {req.method!r} cancelled by the caller")}
            except Cancelled as exc:
                envelope = {"id": req.id, "ok": False, "error": _error("cancelled", "Cancelled", _describe(exc) or "cancelled by the caller")}
            except Exception as exc:
                envelope = {"id": req.id, "ok": False, "error": _error("exception", type(exc).__name__, _describe(exc), _traceback())}
            self._release(req)  # before the reply: once Go sees it, the slot has gone to the next call
            if req.reply and self.code is None:
                worker._reply(req, envelope)
        except _Broken as broken:
            self.end(broken.code, str(broken))
        except (BrokenPipeError, ConnectionResetError) as exc:
            _log(f"connection lost: {exc}")
            self.end(EXIT_OK)
        finally:
            self._release(req)

    def _release(self, req: Request) -> None:
        """A task's call has ended: its slot goes to the first call waiting."""
        if self.active.get(req.id) is req:
            self.active.pop(req.id, None)
            self.started.pop(req.id, None)
            req.task = None
            if self.backlog and self.code is None:
                self._start_backlog()

    async def _tail(self, req: Request, value: Any) -> Dict[str, Any]:
        """The reply of an async def that returned value (as _run's tail)."""
        worker = self.worker
        if type(value) is AsyncGeneratorType:
            return await self._astream(req, value)
        if type(value) is GeneratorType:
            if not req.stream:
                worker._close_stream(value)
                return _not_streamed(req)
            return worker._stream(req, value)
        if req.stream:
            if type(value) is EncodedJSON:
                value = loads(value)
            return worker._stream(req, iter((value,)))
        return {"id": req.id, "ok": True, "result": value}

    async def _aclose(self, gen: Any) -> None:
        try:
            await gen.aclose()
        except Exception as exc:
            _log(f"closing a stream raised {type(exc).__name__}: {_describe(exc)}")

    async def _astream(self, req: Request, gen: Any) -> Dict[str, Any]:
        """An async generator's items while the caller's credit lasts (as _stream)."""
        worker = self.worker
        if not req.stream:
            await self._aclose(gen)
            return _not_streamed(req)
        sent = 0
        try:
            while True:
                if req.cancelled:
                    raise Cancelled(f"stream {req.method!r} cancelled by the caller after {sent} items")
                try:
                    item = await gen.__anext__()
                except StopAsyncIteration:
                    break
                try:
                    body = dumps({"id": req.id, "item": item})
                except _UNSERIALIZABLE as exc:
                    await self._aclose(gen)
                    message = f"item {sent} of {req.method!r} is not JSON-serialisable: {exc}"
                    return {"id": req.id, "ok": False, "error": _error("unserializable", type(exc).__name__, message)}
                frame = worker.item_frame(req.id, item, body)
                if frame is None:
                    await self._aclose(gen)
                    message = f"item {sent} of {req.method!r} is {len(body)} bytes, over the frame limit of {worker.max_frame}"
                    return {"id": req.id, "ok": False, "error": _error("too_large", "FrameTooLarge", message)}
                worker.write_raw(frame)
                sent += 1
                req.credit -= 1
                while req.credit <= 0 and not req.cancelled:
                    await self._wait(req, "credit")
            return {"id": req.id, "ok": True, "result": {"items": sent}}
        except BaseException:
            await self._aclose(gen)
            raise

    async def acall_go(self, req: Request, name: str, args: Any) -> Any:
        """call_go for a call running as a task: its other calls run while Go answers."""
        worker = self.worker
        if req.task is None or self.asyncio.current_task() is not req.task:
            return worker.call_go(req, name, args)
        if req.cancelled:
            raise self.asyncio.CancelledError(f"call {req.method!r} was cancelled by its Go caller")
        seq = worker._callback_frame(req, name, args)
        while True:
            ret = await self._wait(req, "return")
            if type(ret) is dict and ret.get("seq") == seq:
                break
        if req.cancelled:
            raise self.asyncio.CancelledError(f"call {req.method!r} was cancelled by its Go caller")
        return _go_result(ret)


def _encodable(name: str) -> bool:
    """Whether name survives the trip to Go as UTF-8 (no lone surrogates)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(EXIT_OK)


def run(
    sock: socket.socket | FdConn,
    worker_id: str,
    max_frame: int,
    modules: Iterable[str],
    greet: Optional[int] = None,
    concurrency: int = 1,
    sync_threads: int = 0,
    slow_callback: float = DEFAULT_SLOW_CALLBACK,
    segments: bool = False,
) -> int:
    """Build a worker on sock and serve; returns the process exit code.

    With greet, the worker first answers request id greet as ping would (a
    forked worker answering the request that created it). segments: the Go
    side reads segmented frames (a fork request's "segments"), as if a ping
    had said so.
    """
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        worker = Worker(sock, worker_id=worker_id, max_frame=max_frame, modules=modules, concurrency=concurrency,
                        sync_threads=sync_threads, slow_callback=slow_callback)
    except Exception as exc:
        import traceback

        from .startfail import describe

        text = describe(exc)
        _log(text)
        try:  # the connection itself may be what failed (a descriptor not open): the log above says so
            if greet is not None:
                err = _error("exception", "StartFailed", text if isinstance(exc, ImportFailed) else traceback.format_exc(limit=1))
                sock.sendall(encode_frame(dumps({"id": greet, "ok": False, "error": err}), max_frame))
            sock.close()
        except OSError:
            pass
        return EXIT_START_FAILED
    worker.segments = segments
    phase.mark("ready")
    phase.done()
    try:
        if greet is not None:
            worker.send({"id": greet, "ok": True, "result": builtin_methods.hello(worker)})
        return worker.serve()
    except (BrokenPipeError, ConnectionResetError) as exc:
        _log(f"connection lost: {exc}")
        return EXIT_OK
    finally:
        worker.close()
