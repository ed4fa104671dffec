"""Frame codec: a 4-byte big-endian unsigned length, then that many bytes of UTF-8 JSON."""

from __future__ import annotations

import struct
from _thread import get_ident  # threading's, without importing threading at start

from . import MAX_DEPTH

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, BinaryIO, Callable, Dict, List

    Writer = Callable[[bytes], None]

HEADER = struct.Struct(">I")
_DISCARD_CHUNK = 1 << 16


class ProtocolViolation(Exception):
    """The peer sent something that is not a valid frame or envelope."""


class FrameTooLarge(ProtocolViolation):
    """A frame's length prefix exceeds the negotiated maximum."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"frame of {size} bytes exceeds the limit of {limit} bytes")
        self.size = size
        self.limit = limit


def read_exact(stream: BinaryIO, n: int) -> bytes:
    """Read exactly n bytes; b"" at a clean end of stream, ProtocolViolation if cut short."""
    first = stream.read(n)
    if len(first) == n or not first:
        return first
    chunks = [first]
    n -= len(first)
    remaining = n
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            raise ProtocolViolation(f"stream ended {remaining} bytes short of the read")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_frame(stream: BinaryIO, max_frame: int) -> bytes:
    """Read one frame's payload. Raises EOFError at a clean end of stream.

    The length is checked against max_frame before any payload is read, so a
    hostile length prefix never allocates memory.
    """
    header = read_exact(stream, HEADER.size)
    if not header:
        raise EOFError("end of stream")
    (size,) = HEADER.unpack(header)
    if size > max_frame:
        raise FrameTooLarge(size, max_frame)
    payload = read_exact(stream, size)
    if len(payload) != size:
        raise ProtocolViolation(f"stream ended inside a {size}-byte frame")
    return payload


def encode_frame(payload: bytes, max_frame: int) -> bytes:
    """Prefix payload with its length; FrameTooLarge if it exceeds max_frame."""
    if len(payload) > max_frame:
        raise FrameTooLarge(len(payload), max_frame)
    return HEADER.pack(len(payload)) + payload


# The codec is built from the C accelerator json builds on (_json), so a
# start imports neither json nor the re its decoder compiles regexes with:
# json.JSONEncoder and json.JSONDecoder are made on first use (decode
# errors, leading whitespace, encoding on another thread). Where _json is
# missing (another implementation), json is imported at start, as before.
try:
    import _json
except ImportError:  # pragma: no cover - CPython has it
    _json = None  # type: ignore[assignment]


class _Lazy:
    """json's encoder and decoder with the codec's settings, made on first use."""

    _ENCODER: Any
    _DECODER: Any

    def __getattr__(self, name: str) -> Any:
        import json

        if name == "_ENCODER":
            value: Any = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        elif name == "_DECODER":
            value = json.JSONDecoder()
        else:
            raise AttributeError(name)
        setattr(self, name, value)
        return value


_lazy = _Lazy()


class _ScanContext:
    """What json.scanner.c_make_scanner reads of a default json.JSONDecoder."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}.__getitem__
    memo: Dict[str, Any] = {}


def _scanner() -> Any:
    make = getattr(_json, "make_scanner", None)
    if make is not None:
        try:
            return make(_ScanContext())
        except TypeError:  # pragma: no cover - a context this module does not know
            pass
    return _lazy._DECODER.scan_once


_SCAN = _scanner()
_WHITESPACE = " \t\n\r"


def _not_serializable(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _c_encoder() -> Any:
    """The C encoder JSONEncoder.encode builds on every call, built once
    (about 1 us a reply); None where the C accelerator is missing."""
    make = getattr(_json, "make_encoder", None)
    quote = getattr(_json, "encode_basestring", None)
    if make is None or quote is None:
        return None
    try:
        return make(_MARKERS, _not_serializable, quote, None, ":", ",", False, False, False)
    except TypeError:  # a signature this module does not know
        return None


_MARKERS: Dict[int, Any] = {}
_C_ENCODE = _c_encoder()
_SERVING_THREAD = get_ident()


def dumps(value: Any) -> bytes:
    """Encode value as compact UTF-8 JSON.

    Raises TypeError or ValueError for values JSON cannot carry (objects,
    NaN and infinities, circular references) and UnicodeEncodeError for
    strings with lone surrogates.
    """
    if _C_ENCODE is None or get_ident() != _SERVING_THREAD:
        return _lazy._ENCODER.encode(value).encode("utf-8")
    try:
        return "".join(_C_ENCODE(value, 0)).encode("utf-8")
    except BaseException:
        _MARKERS.clear()  # an encoding cut short leaves its circular-reference markers
        raise


class TooDeep(ProtocolViolation):
    """A valid JSON document nested deeper than the worker decodes."""

    def __init__(self, request_id: Any) -> None:
        super().__init__(f"value nested too deep to decode (the protocol allows {MAX_DEPTH} levels)")
        self.request_id = request_id


def loads(payload: bytes) -> Any:
    """Decode one UTF-8 JSON document; ProtocolViolation if it is not one.

    A document nested too deep for the decoder raises TooDeep, carrying the
    top-level "id" when it has one, so the request can still be answered.
    """
    try:
        text = payload.decode("utf-8")
        try:
            value, end = _SCAN(text, 0)  # what JSONDecoder.decode does, minus its two regex passes
        except StopIteration:
            value, end = _lazy._DECODER.decode(text), len(text)  # leading whitespace, or the error's message
        if end != len(text) and text[end:].strip(_WHITESPACE):
            _lazy._DECODER.decode(text)  # raises "Extra data"
        return value
    except RecursionError:
        raise TooDeep(top_level_id(payload.decode("utf-8"))) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolViolation(f"frame is not UTF-8 JSON: {exc}") from exc


# Large text: a string of LARGE_TEXT bytes or more that needs no escape (no
# quote, backslash or control character) crosses as is, without the JSON
# codec's per-character work (1 MB: about 3 ms to encode, 1.5 ms to decode).
# Whether it needs one is asked of memchr, one byte value at a time (34
# scans of a MiB cost less than one pass of bytes.translate, and nothing is
# copied); the text is decoded from a memoryview of the frame.
LARGE_TEXT = 4096
# Newline, tab and carriage return first: prose that needs escapes says so
# on the first scan.
_FIRST = (0x0A, 0x09, 0x0D)
_ESCAPED = tuple(bytes((c,)) for c in (*_FIRST, *(c for c in range(0x20) if c not in _FIRST))) + (b"\\",)
_PATTERNS: Dict[str, Any] = {}


def _pattern(name: str) -> Any:
    """The named regex, compiled on first use (re is not imported at start)."""
    compiled = _PATTERNS.get(name)
    if compiled is None:
        import re

        if name == "request":
            compiled = re.compile(rb'\{"id":(0|[1-9][0-9]*),"method":"([^"\\\x00-\x1f]+)","args":"')
        else:
            compiled = re.compile(r'"id"\s*:\s*(-?\d+)')
        _PATTERNS[name] = compiled
    return compiled


def _plain(data: bytes, start: int = 0, end: int = -1) -> bool:
    """data[start:end] (all of it by default) holds no control character
    or backslash: with no quote either, a JSON string carries it as is."""
    if end < 0:
        end = len(data)
    find = data.find
    for byte in _ESCAPED:
        if find(byte, start, end) >= 0:
            return False
    return True


def loads_request(payload: bytes) -> Any:
    """loads for a request frame, with a fast path for the shape the Go
    client writes when args is one large plain string, and segmented
    frames (loads_segmented)."""
    if payload[:1] == b"\x00":
        return loads_segmented(payload)
    if len(payload) >= LARGE_TEXT:
        m = _pattern("request").match(payload)
        if m:
            start = m.end()
            end = payload.find(b'"', start)  # no backslash in a plain text: the first quote ends it
            rest = payload[end + 1 :] if end > 0 else b""
            if rest[:1] in (b"}", b",") and _plain(payload, start, end):
                try:
                    doc = {"id": int(m.group(1)), "method": m.group(2).decode("utf-8"),
                           "args": str(memoryview(payload)[start:end], "utf-8")}
                except UnicodeDecodeError:
                    return loads(payload)  # the general path says what is wrong
                if rest != b"}":
                    try:
                        more = loads(b"{" + rest[1:])
                    except TooDeep:
                        return loads(payload)  # raises TooDeep with the request's id
                    if type(more) is not dict or not more:  # "...",} is no JSON
                        return loads(payload)
                    doc.update(more)  # later members win, as in json.loads
                return doc
    return loads(payload)


def dumps_text_reply(request_id: int, text: str) -> Any:
    """The success reply carrying text, when text is large and plain
    (byte for byte what dumps gives); None otherwise."""
    if len(text) < LARGE_TEXT or '"' in text:
        return None
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: the general path reports it
        return None
    if not _plain(data):
        return None
    return b"".join((b'{"id":%d,"ok":true,"result":"' % request_id, data, b'"}'))


_QUOTE = getattr(_json, "encode_basestring", None)
_SMALL_INT = 1 << 64


def dumps_small_reply(request_id: int, value: Any) -> Any:
    """The success reply carrying value, byte for byte what dumps gives
    for the envelope, without encoding the envelope: a str below
    LARGE_TEXT (quoted by the C encoder's own quote), an int below 2**64
    either way, a bool or None; None for anything else (a str JSON cannot
    carry, a huge int: the general path reports them)."""
    t = type(value)
    if t is str:
        if len(value) >= LARGE_TEXT or _QUOTE is None:
            return None
        try:
            return b'{"id":%d,"ok":true,"result":%s}' % (request_id, _QUOTE(value).encode("utf-8"))
        except UnicodeEncodeError:  # a lone surrogate
            return None
    if t is int and -_SMALL_INT < value < _SMALL_INT:  # a huge one: the general path (and its digit limit)
        return b'{"id":%d,"ok":true,"result":%d}' % (request_id, value)
    if value is None:
        return b'{"id":%d,"ok":true,"result":null}' % request_id
    if t is bool:
        return b'{"id":%d,"ok":true,"result":true}' % request_id if value else b'{"id":%d,"ok":true,"result":false}' % request_id
    return None


def top_level_id(text: str) -> Any:
    """The integer value of the "id" member of a JSON object text, read at
    nesting level 1 without decoding the rest; None when there is none."""
    level = 0
    in_string = escaped = False
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            if level == 1:
                m = _pattern("id").match(text, i)
                if m:
                    return int(m.group(1))
            in_string = True
        elif ch in "[{":
            level += 1
        elif ch in "]}":
            level -= 1
    return None



# Segmented frames (PROTOCOL.md, Segmented frames): a large string travels
# as raw UTF-8 after the JSON envelope, which names it with a reference,
# the string "\udbff<i>" (a lone surrogate: never in a plain frame). The
# worker reads them whenever it serves; it writes them only once the Go side
# has said it reads them (a ping with {"segments": true}).
SEGMENT_MARKER = 0
# Strings of at least this many characters go out as segments.
SEGMENT_MIN = 4096
REF = "\udbff"
_SEG_HEAD = struct.Struct(">BII")
_SEG_ENTRY = struct.Struct(">BI")
_TEXT, _BYTES = 0x73, 0x62  # b"s", b"b"
# How many values of a result are looked at for large strings before it is
# sent plainly: a result of many small values pays at most this walk.
_WALK_BUDGET = 1024


def is_segmented(payload: Any) -> bool:
    return len(payload) > 0 and payload[0] == SEGMENT_MARKER


def split_segmented(payload: bytes) -> Any:
    """The envelope (bytes) and segments (memoryviews with their kinds) of a
    segmented payload; ProtocolViolation when it is malformed."""
    size = len(payload)
    if size < _SEG_HEAD.size:
        raise ProtocolViolation(f"segmented frame of {size} bytes, shorter than its header")
    _, env_len, count = _SEG_HEAD.unpack_from(payload)
    rest = size - _SEG_HEAD.size
    if count == 0:
        raise ProtocolViolation("segmented frame with no segment")
    if count * _SEG_ENTRY.size + env_len > rest:
        raise ProtocolViolation(f"segmented frame: a table of {count} segments and a {env_len}-byte envelope do not fit its {size} bytes")
    if count * 9 > env_len:  # each reference is at least 9 bytes ("\udbff0"): checked before the table is read
        raise ProtocolViolation(f"segmented frame: {count} segments, more than a {env_len}-byte envelope can reference")
    view = memoryview(payload)
    at = _SEG_HEAD.size + count * _SEG_ENTRY.size
    env = bytes(view[at : at + env_len])
    at += env_len
    segs = []
    for i in range(count):
        kind, length = _SEG_ENTRY.unpack_from(payload, _SEG_HEAD.size + i * _SEG_ENTRY.size)
        if kind != _TEXT and kind != _BYTES:
            raise ProtocolViolation(f"segmented frame: segment {i} has kind {kind:#x}")
        if at + length > size:
            raise ProtocolViolation(f"segmented frame: segment {i} ({length} bytes) runs past the frame's end")
        segs.append((kind, view[at : at + length]))
        at += length
    if at != size:
        raise ProtocolViolation(f"segmented frame: {size - at} bytes after its last segment")
    return env, segs


def _segment_value(i: int, kind: int, data: Any) -> str:
    """What segment i stands for: its text, or its bytes' base64 text (the
    str a []byte has always reached handlers as)."""
    if kind == _BYTES:
        import binascii

        return binascii.b2a_base64(data, newline=False).decode("ascii")
    try:
        return str(data, "utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolViolation(f"segmented frame: text segment {i} is not UTF-8: {exc}") from None


def loads_segmented(payload: bytes) -> Any:
    """loads for a segmented payload: the envelope decoded, each reference
    replaced by its segment's str; ProtocolViolation for a malformed one
    (a reference out of range, a segment referenced twice or never)."""
    env, segs = split_segmented(payload)
    doc = loads(env)
    used = [False] * len(segs)

    def resolve(value: str) -> str:
        digits = value[1:]
        if not digits.isdigit() or not digits.isascii() or (digits[0] == "0" and len(digits) > 1):
            raise ProtocolViolation(f"segmented frame: malformed reference {value!r}")
        i = int(digits)
        if i >= len(segs):
            raise ProtocolViolation(f"segmented frame: reference to segment {i} of {len(segs)}")
        if used[i]:
            raise ProtocolViolation(f"segmented frame: segment {i} referenced twice")
        used[i] = True
        return _segment_value(i, *segs[i])

    stack = [doc]
    while stack:
        node = stack.pop()
        if type(node) is dict:
            for key, value in node.items():
                if type(value) is str:
                    if value[:1] == REF:
                        node[key] = resolve(value)
                elif type(value) is dict or type(value) is list:
                    stack.append(value)
        elif type(node) is list:
            for index, value in enumerate(node):
                if type(value) is str:
                    if value[:1] == REF:
                        node[index] = resolve(value)
                elif type(value) is dict or type(value) is list:
                    stack.append(value)
    if not all(used):
        raise ProtocolViolation(f"segmented frame: segment {used.index(False)} is not referenced")
    return doc


def _segmentize(value: Any, segs: List[str]) -> Any:
    """value with its strings of SEGMENT_MIN characters or more replaced by
    references to them (appended to segs); containers are copied, value is
    left as it was. None when it has no such string, or more than
    _WALK_BUDGET values (sent plainly then)."""
    budget = [_WALK_BUDGET]

    def walk(node: Any) -> Any:
        budget[0] -= 1
        if budget[0] < 0:
            raise _OverBudget
        kind = type(node)
        if kind is str:
            if len(node) >= SEGMENT_MIN:
                segs.append(node)
                return _Ref(len(segs) - 1)
            return node
        if kind is dict:
            return {k: walk(v) for k, v in node.items()}
        if kind is list or kind is tuple:
            return [walk(v) for v in node]
        return node

    try:
        out = walk(value)
    except (_OverBudget, RecursionError):
        return None
    return out if segs else None


class _OverBudget(Exception):
    pass


class _Ref(str):
    """A reference in an envelope being encoded: written as the JSON string
    "\\udbff<i>" (a user's str, even one starting with U+DBFF, never is)."""

    def __new__(cls, index: int) -> "_Ref":
        return super().__new__(cls, '"\\udbff%d"' % index)


def _quote(value: str) -> str:
    if type(value) is _Ref:
        return str.__str__(value)
    return _json.encode_basestring(value)  # type: ignore[union-attr]


def _dumps_refs(value: Any) -> Any:
    """dumps for an envelope holding _Refs; None where the C encoder is missing."""
    make = getattr(_json, "make_encoder", None)
    if make is None or getattr(_json, "encode_basestring", None) is None:
        return None
    try:
        encode = make({}, _not_serializable, _quote, None, ":", ",", False, False, False)
    except TypeError:
        return None
    return "".join(encode(value, 0)).encode("utf-8")


def segmented_frame(envelope: Any, max_frame: int) -> Any:
    """The whole frame (length prefix included) of envelope with its large
    strings as segments; None when it has none (or too many values to look
    at), or when it would not fit max_frame: the caller sends it plainly
    (and says what is wrong with it). Raises what dumps raises, and
    UnicodeEncodeError for a string with a lone surrogate."""
    segs: List[str] = []
    shaped = _segmentize(envelope, segs)
    if shaped is None:
        return None
    data = [s.encode("utf-8") for s in segs]
    env = _dumps_refs(shaped)
    if env is None:
        return None
    size = _SEG_HEAD.size + _SEG_ENTRY.size * len(data) + len(env) + sum(map(len, data))
    if size > max_frame:
        return None
    parts = [HEADER.pack(size), _SEG_HEAD.pack(SEGMENT_MARKER, len(env), len(data))]
    parts.extend(_SEG_ENTRY.pack(_TEXT, len(d)) for d in data)
    parts.append(env)
    parts.extend(data)
    return b"".join(parts)


def segmented_text_reply(request_id: int, text: str, max_frame: int) -> Any:
    """segmented_frame for the reply {"id", "ok": true, "result": text}, text
    a large str: its frame, or None (a lone surrogate, over max_frame)."""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        return None  # the general path reports it
    env = b'{"id":%d,"ok":true,"result":"\\udbff0"}' % request_id
    size = _SEG_HEAD.size + _SEG_ENTRY.size + len(env) + len(data)
    if size > max_frame:
        return None
    return b"".join((HEADER.pack(size), _SEG_HEAD.pack(SEGMENT_MARKER, len(env), 1), _SEG_ENTRY.pack(_TEXT, len(data)), env, data))
