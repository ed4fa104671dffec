"""Frame codec: a 4-byte big-endian unsigned length, then that many bytes of UTF-8 JSON."""

import json
import re
import struct
from typing import Any, BinaryIO, Callable

from . import MAX_DEPTH

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


_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
_DECODER = json.JSONDecoder()


def dumps(value: Any) -> bytes:
    """Encode value as compact UTF-8 JSON.

    Raises TypeError or ValueError for values JSON cannot carry (objects,
    NaN and infinities, circular references) and UnicodeEncodeError for
    strings with lone surrogates.
    """
    return _ENCODER.encode(value).encode("utf-8")


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
        return _DECODER.decode(payload.decode("utf-8"))
    except RecursionError:
        raise TooDeep(top_level_id(payload.decode("utf-8"))) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolViolation(f"frame is not UTF-8 JSON: {exc}") from exc


_ID = re.compile(r'"id"\s*:\s*(-?\d+)')


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
                m = _ID.match(text, i)
                if m:
                    return int(m.group(1))
            in_string = True
        elif ch in "[{":
            level += 1
        elif ch in "]}":
            level -= 1
    return None


Writer = Callable[[bytes], None]
