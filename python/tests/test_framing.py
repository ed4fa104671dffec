import io
import json
import math
import subprocess
import sys
import threading
import unittest
from pathlib import Path
from typing import Any, List

from pyharness_worker.framing import (
    HEADER,
    LARGE_TEXT,
    FrameTooLarge,
    ProtocolViolation,
    dumps,
    dumps_small_reply,
    dumps_text_reply,
    encode_frame,
    loads,
    loads_request,
    read_frame,
)


class FramingTest(unittest.TestCase):
    def test_small_reply_is_byte_for_byte_the_envelope_dumps(self) -> None:
        values: List[Any] = ["", "a small call", 'q"uote\\back\nline\x00', "h\u00e9\u2603\U0001f600", "x" * (LARGE_TEXT - 1),
                             0, -7, 2**64 - 1, -(2**64) + 1, True, False, None]
        for value in values:
            with self.subTest(value=value if type(value) is not str else value[:20]):
                self.assertEqual(dumps_small_reply(41, value), dumps({"id": 41, "ok": True, "result": value}))

    def test_small_reply_leaves_the_rest_to_the_general_path(self) -> None:
        class Sub(int):
            pass

        for value in ("x" * LARGE_TEXT, "lone \ud800", 1.5, [1], {"a": 1}, Sub(3), 2**64, 10**5000):
            with self.subTest(kind=type(value).__name__):
                self.assertIsNone(dumps_small_reply(1, value))

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


VALUES: List[Any] = [{"a": 1, "b": [1.5, None, True, False, "\u00e9\u2028\x01\"\\"]}, "x", 1e300, -0.0, 2**70,
                     {"k": {"n": [], "o": {}}}, {1.5: 2, 3: "t", None: 0, True: 1}, []]
BAD_DOCUMENTS = [b" ", b"nope", b"[1,", b'{"a":1} x', b'"\x01"', b'{"a" 1}', b"[1,]", b'\n"unterminated']


class CodecTest(unittest.TestCase):
    """framing's codec, built from _json, gives what json gives with the
    protocol's settings: the same bytes, the same values, the same errors."""

    def encoded(self, value: Any) -> bytes:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")

    def test_dumps_is_json_dumps_on_every_thread(self) -> None:
        for value in VALUES:
            elsewhere: List[bytes] = []
            thread = threading.Thread(target=lambda: elsewhere.append(dumps(value)))
            thread.start()
            thread.join()
            with self.subTest(value=repr(value)):
                self.assertEqual(dumps(value), self.encoded(value))
                self.assertEqual(elsewhere, [self.encoded(value)])

    def test_loads_is_json_loads(self) -> None:
        for text in [b' \n{"a": [1, 2.5e3, "\\u00e9"]} \t', b'[NaN, Infinity, -Infinity]', b"12345678901234567890",
                     *(self.encoded(value) for value in VALUES)]:
            with self.subTest(text=text):
                self.assertEqual(repr(loads(text)), repr(json.loads(text)))

    def test_errors_carry_json_messages(self) -> None:
        for text in BAD_DOCUMENTS:
            with self.subTest(text=text):
                with self.assertRaises(json.JSONDecodeError) as expected:
                    json.loads(text.decode("utf-8"))
                with self.assertRaises(ProtocolViolation) as got:
                    loads(text)
                self.assertEqual(str(got.exception), f"frame is not UTF-8 JSON: {expected.exception}")
        circular: List[Any] = []
        circular.append(circular)
        for bad, message in ((math.nan, "Out of range float values are not JSON compliant"),
                             (object(), "Object of type object is not JSON serializable"),
                             (circular, "Circular reference detected"), ({(1,): 2}, None)):
            with self.subTest(bad=repr(bad)):
                with self.assertRaises((TypeError, ValueError)) as got_encode:
                    dumps(bad)
                if message is not None:
                    self.assertEqual(str(got_encode.exception), message)
        self.assertEqual(dumps([1]), b"[1]", "a failed encoding leaves no circular-reference marker behind")

    def test_without_the_c_accelerator_the_codec_is_json(self) -> None:
        script = (
            "import sys\n"
            "sys.modules['_json'] = None\n"
            "from pyharness_worker import framing\n"
            "assert framing._json is None and 'json' in sys.modules\n"
            "sys.stdout.buffer.write(framing.dumps(framing.loads(sys.stdin.buffer.read())))\n"
        )
        doc = self.encoded(VALUES)
        out = subprocess.run([sys.executable, "-c", script], input=doc, capture_output=True, timeout=60,
                             cwd=Path(__file__).resolve().parent.parent)
        self.assertEqual(out.returncode, 0, out.stderr[-500:])
        self.assertEqual(out.stdout, self.encoded(json.loads(doc)))


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
