import io
import json
import math
import unittest

from pyharness_worker.framing import (
    HEADER,
    LARGE_TEXT,
    FrameTooLarge,
    ProtocolViolation,
    dumps,
    dumps_text_reply,
    encode_frame,
    loads,
    loads_request,
    read_frame,
)


class FramingTest(unittest.TestCase):
    def test_round_trip(self) -> None:
        stream = io.BytesIO(encode_frame(b'{"a":1}', 100) + encode_frame(b"[]", 100))
        self.assertEqual(read_frame(stream, 100), b'{"a":1}')
        self.assertEqual(read_frame(stream, 100), b"[]")
        with self.assertRaises(EOFError):
            read_frame(stream, 100)

    def test_length_is_checked_before_reading(self) -> None:
        stream = io.BytesIO(HEADER.pack(0xFFFFFFFF))
        with self.assertRaises(FrameTooLarge) as ctx:
            read_frame(stream, 1 << 20)
        self.assertEqual(ctx.exception.size, 0xFFFFFFFF)
        self.assertEqual(stream.tell(), 4, "nothing past the header may be read")

    def test_encode_refuses_oversize(self) -> None:
        with self.assertRaises(FrameTooLarge):
            encode_frame(b"x" * 11, 10)

    def test_truncated_header_and_payload(self) -> None:
        with self.assertRaises(ProtocolViolation):
            read_frame(io.BytesIO(b"\x00\x00"), 100)
        with self.assertRaises(ProtocolViolation):
            read_frame(io.BytesIO(HEADER.pack(10) + b"abc"), 100)

    def test_big_integers_and_unicode_are_exact(self) -> None:
        value = {"n": 2**53 + 1, "neg": -(2**63), "s": "e\u0301 \U0001F600 \u00e9"}
        self.assertEqual(loads(dumps(value)), value)
        self.assertIn(b"9007199254740993", dumps(value))
        self.assertIn("\U0001F600".encode(), dumps(value))

    def test_unserialisable_values_raise(self) -> None:
        for bad in (object(), math.nan, math.inf, {1, 2}, "\ud800"):
            with self.subTest(bad=repr(bad)):
                with self.assertRaises((TypeError, ValueError, UnicodeEncodeError)):
                    dumps(bad)

    def test_loads_rejects_non_json(self) -> None:
        for bad in (b"{", b"\xff\xfe", b""):
            with self.assertRaises(ProtocolViolation):
                loads(bad)


if __name__ == "__main__":
    unittest.main()


class LargeTextTest(unittest.TestCase):
    """The large-text fast paths give exactly what the JSON codec gives."""

    big = "x" * LARGE_TEXT

    def test_requests_decode_as_loads_does(self) -> None:
        cases = [
            self.big,
            "héllo 世界 🙂 " * 1000,
            self.big + "\n",  # needs an escape: the general path
            self.big + '"quoted"',
            self.big + "\\",
            "\u007f" * LARGE_TEXT,
        ]
        for args in cases:
            for extra in ({}, {"session": "s1"}, {"session": "s1", "deadline_ms": 123}, {"id": 9}):
                payload = json.dumps({"id": 7, "method": "echo", "args": args, **extra}, ensure_ascii=False).encode()
                with self.subTest(args=args[-12:], extra=extra):
                    self.assertEqual(loads_request(payload), loads(payload))

    def test_malformed_requests_fail_as_loads_does(self) -> None:
        for payload in (
            b'{"id":7,"method":"echo","args":"' + b"x" * LARGE_TEXT + b'\xff"}',  # invalid UTF-8
            b'{"id":7,"method":"echo","args":"' + b"x" * LARGE_TEXT + b'"',  # cut short
            b'{"id":7,"method":"echo","args":"' + b"x" * LARGE_TEXT + b'",}',  # trailing comma
            b'{"id":07,"method":"echo","args":"' + b"x" * LARGE_TEXT + b'"}',  # a leading zero
        ):
            with self.subTest(payload=payload[-8:]):
                with self.assertRaises(ProtocolViolation):
                    loads(payload)
                with self.assertRaises(ProtocolViolation):
                    loads_request(payload)

    def test_replies_encode_as_dumps_does(self) -> None:
        for text in (self.big, "héllo 世界 🙂 " * 1000, "\u007f" * LARGE_TEXT):
            with self.subTest(text=text[:8]):
                self.assertEqual(dumps_text_reply(3, text), dumps({"id": 3, "ok": True, "result": text}))
        for text in ("short", self.big + "\n", self.big + '"', self.big + "\\", self.big + "\ud800"):
            with self.subTest(text=text[-4:]):
                self.assertIsNone(dumps_text_reply(3, text))


class LargeTextEveryEscapeTest(unittest.TestCase):
    """Each byte a JSON string must escape, anywhere in a large text, takes
    the general path: the fast paths never carry it raw."""

    def test_every_escaped_character_anywhere(self) -> None:
        base = "x" * LARGE_TEXT
        for code in [*range(0x20), ord("\\"), ord('"')]:
            for where in (0, LARGE_TEXT // 2, LARGE_TEXT):
                text = base[:where] + chr(code) + base[where:]
                with self.subTest(code=code, where=where):
                    self.assertIsNone(dumps_text_reply(3, text))
                    payload = json.dumps({"id": 7, "method": "echo", "args": text}, ensure_ascii=False).encode()
                    self.assertEqual(loads_request(payload), loads(payload))
                    raw = b'{"id":7,"method":"echo","args":"' + text.encode() + b'"}'
                    if code == ord('"'):
                        continue  # a quote ends the string: another document
                    # A raw control character, or a backslash before "x" or the closing quote.
                    for decode in (loads, loads_request):
                        with self.assertRaises(ProtocolViolation):
                            decode(raw)

    def test_plain_text_round_trips_exactly(self) -> None:
        for text in ("x" * LARGE_TEXT, "é" * LARGE_TEXT, "\U0001F600" * LARGE_TEXT, "\u007f\u2028" * LARGE_TEXT):
            with self.subTest(text=text[:2]):
                body = dumps_text_reply(5, text)
                self.assertEqual(body, dumps({"id": 5, "ok": True, "result": text}))
                request = b'{"id":5,"method":"echo","args":"' + text.encode() + b'"}'
                self.assertEqual(loads_request(request), {"id": 5, "method": "echo", "args": text})
