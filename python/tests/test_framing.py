import io
import math
import unittest

from pyharness_worker.framing import (
    HEADER,
    FrameTooLarge,
    ProtocolViolation,
    dumps,
    encode_frame,
    loads,
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
