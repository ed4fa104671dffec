"""Segmented frames (PROTOCOL.md, Segmented frames): large strings as raw
segments after the envelope, both ways, negotiated by the ping."""

import base64
import struct
import unittest
from typing import Any, List, Tuple

from pyharness_worker.framing import (
    HEADER,
    SEGMENT_MIN,
    ProtocolViolation,
    loads_request,
    loads_segmented,
    segmented_frame,
    split_segmented,
)
from pyharness_worker.server import EXIT_PROTOCOL

from .helpers import ThreadedWorker

_HEAD = struct.Struct(">BII")
_ENTRY = struct.Struct(">BI")


def segmented(env: str, *segs: Tuple[str, bytes]) -> bytes:
    """A segmented payload (no length prefix), built by hand."""
    body = env.encode()
    out = [_HEAD.pack(0, len(body), len(segs))]
    out.extend(_ENTRY.pack(ord(kind), len(data)) for kind, data in segs)
    out.append(body)
    out.extend(data for _, data in segs)
    return b"".join(out)


def frame(payload: bytes) -> bytes:
    return HEADER.pack(len(payload)) + payload


def parse(data: bytes) -> Tuple[Any, List[bytes]]:
    """A segmented payload's envelope (decoded, references as they are) and segments."""
    env, segs = split_segmented(data)
    import json

    return json.loads(env), [bytes(d) for _, d in segs]


class CodecTest(unittest.TestCase):
    def test_a_request_with_a_text_segment_decodes_to_the_str(self) -> None:
        text = "x" * SEGMENT_MIN + '"quoted"\n ✓'
        doc = loads_request(segmented('{"id":1,"method":"echo","args":"\\udbff0"}', ("s", text.encode())))
        self.assertEqual(doc, {"id": 1, "method": "echo", "args": text})
        self.assertIs(type(doc["args"]), str)

    def test_a_bytes_segment_reaches_handlers_as_its_base64_str(self) -> None:
        blob = bytes(range(256)) * 4
        doc = loads_request(segmented('{"id":1,"method":"echo","args":{"b":["\\udbff0"]}}', ("b", blob)))
        self.assertEqual(doc["args"], {"b": [base64.b64encode(blob).decode()]})

    def test_nested_references_resolve_in_place(self) -> None:
        doc = loads_segmented(segmented('{"id":2,"method":"m","args":{"a":["\\udbff1",1],"b":{"c":"\\udbff0"}}}',
                                        ("s", b"zero"), ("s", b"one")))
        self.assertEqual(doc["args"], {"a": ["one", 1], "b": {"c": "zero"}})

    def test_malformed_frames_are_violations(self) -> None:
        ok = '{"id":1,"method":"echo","args":"\\udbff0"}'
        cases = {
            "short": b"\x00\x00",
            "no segment": segmented('{"id":1,"method":"echo","args":1}'),
            "out of range": segmented('{"id":1,"method":"echo","args":"\\udbff1"}', ("s", b"a")),
            "twice": segmented('{"id":1,"method":"echo","args":["\\udbff0","\\udbff0"]}', ("s", b"a")),
            "never": segmented(ok, ("s", b"a"), ("s", b"b")),
            "malformed reference": segmented('{"id":1,"method":"echo","args":"\\udbffx"}', ("s", b"a")),
            "leading zero": segmented('{"id":1,"method":"echo","args":"\\udbff00"}', ("s", b"a")),
            "kind": segmented(ok, ("x", b"a")),
            "trailing": segmented(ok, ("s", b"a")) + b"zz",
            "past the end": segmented(ok, ("s", b"abc"))[:-1],
            "more segments than references": segmented(ok, *[("s", b"a")] * 6),
            "envelope too long": b"\x00\x40\x00\x00\x00\x00\x00\x00\x01",
            "text not UTF-8": segmented(ok, ("s", b"\xff")),
            "envelope not JSON": segmented('{"id":1,', ("s", b"a")),
        }
        for name, payload in cases.items():
            with self.subTest(name):
                with self.assertRaises(ProtocolViolation):
                    loads_request(payload)

    def test_segmented_frame_round_trips_and_leaves_the_value_alone(self) -> None:
        big = "y" * SEGMENT_MIN
        result = {"a": big, "b": [1, big + "é", "small"], "c": ("t", big)}
        data = segmented_frame({"id": 3, "ok": True, "result": result}, 1 << 24)
        assert data is not None
        self.assertEqual(HEADER.unpack(data[:4])[0], len(data) - 4)
        env, segs = parse(data[4:])
        self.assertEqual(env, {"id": 3, "ok": True, "result": {"a": "\udbff0", "b": [1, "\udbff1", "small"], "c": ["t", "\udbff2"]}})
        self.assertEqual(segs, [big.encode(), (big + "é").encode(), big.encode()])
        self.assertEqual(loads_segmented(data[4:])["result"], {"a": big, "b": [1, big + "é", "small"], "c": ["t", big]})
        self.assertEqual(result["a"], big, "the handler's value is not changed")

    def test_a_user_string_that_looks_like_a_reference_is_not_one(self) -> None:
        with self.assertRaises(UnicodeEncodeError):  # a lone surrogate: unserializable, as in a plain reply
            segmented_frame({"id": 1, "ok": True, "result": ["x" * SEGMENT_MIN, "\udbff0"]}, 1 << 24)

    def test_no_segments_without_a_large_string_or_over_the_limit(self) -> None:
        self.assertIsNone(segmented_frame({"id": 1, "ok": True, "result": ["x" * (SEGMENT_MIN - 1)]}, 1 << 24))
        self.assertIsNone(segmented_frame({"id": 1, "ok": True, "result": ["x" * SEGMENT_MIN]}, SEGMENT_MIN))
        many = [1] * 5000 + ["x" * SEGMENT_MIN]
        self.assertIsNone(segmented_frame({"id": 1, "ok": True, "result": many}, 1 << 24), "too many values to look at")


class WorkerTest(unittest.TestCase):
    def setUp(self) -> None:
        self.w = ThreadedWorker(max_frame=1 << 24)

    def tearDown(self) -> None:
        self.w.close()

    def test_ping_lists_segments_and_replies_stay_plain_until_asked(self) -> None:
        self.assertIn("segments", self.w.call("ping")["result"]["features"])
        big = "z" * SEGMENT_MIN
        self.w.send({"id": 5, "method": "echo", "args": big})
        raw = self.w.recv_raw()
        self.assertEqual(raw[:1], b"{", "a peer that did not ask reads plain frames only")
        self.assertTrue(self.w.call("ping", {"segments": True})["ok"])
        self.w.send({"id": 6, "method": "echo", "args": big})
        env, segs = parse(self.w.recv_raw())
        self.assertEqual(env, {"id": 6, "ok": True, "result": "\udbff0"})
        self.assertEqual(segs, [big.encode()])

    def test_segmented_requests_echo_back_segmented_and_small_replies_stay_plain(self) -> None:
        self.w.call("ping", {"segments": True})
        text = "é" * SEGMENT_MIN + "\n\"\\"
        self.w.send_raw(frame(segmented('{"id":7,"method":"echo","args":{"t":"\\udbff0","n":1}}', ("s", text.encode()))))
        env, segs = parse(self.w.recv_raw())
        self.assertEqual(env, {"id": 7, "ok": True, "result": {"t": "\udbff0", "n": 1}})
        self.assertEqual(segs, [text.encode()])
        self.w.send({"id": 8, "method": "echo", "args": "x" * (SEGMENT_MIN - 1)})
        self.assertEqual(self.w.recv_raw()[:1], b"{")
        self.w.send({"id": 9, "method": "echo", "args": {"small": 1}})
        self.assertEqual(self.w.recv_raw(), b'{"id":9,"ok":true,"result":{"small":1}}', "byte for byte as before")

    def test_a_large_result_with_a_lone_surrogate_is_unserializable(self) -> None:
        self.w.call("ping", {"segments": True})
        self.w.send({"id": 20, "method": "echo", "args": "x" * SEGMENT_MIN + "\ud800"})
        reply = self.w.recv()
        self.assertFalse(reply["ok"])
        self.assertEqual(reply["error"]["kind"], "unserializable")

    def test_a_malformed_segmented_request_exits_with_the_protocol_code(self) -> None:
        self.w.send_raw(frame(segmented('{"id":1,"method":"echo","args":"\\udbff3"}', ("s", b"a"))))
        self.w._thread.join(timeout=10)
        self.assertEqual(self.w.exit_code, EXIT_PROTOCOL)

    def test_a_segmented_frame_over_max_frame_is_refused_before_it_is_read(self) -> None:
        payload = segmented('{"id":1,"method":"echo","args":"\\udbff0"}', ("s", b"a" * (1 << 24)))
        self.w.send_raw(HEADER.pack(len(payload)))
        self.w._thread.join(timeout=10)
        self.assertEqual(self.w.exit_code, EXIT_PROTOCOL)



class StreamTest(unittest.TestCase):
    def test_large_stream_items_go_out_as_segments_once_asked(self) -> None:
        w = ThreadedWorker(modules=["tests.sample_handlers"], max_frame=1 << 24)
        try:
            w.call("ping", {"segments": True})
            big = "s" * SEGMENT_MIN
            w.send({"id": 30, "method": "echo", "args": big, "stream": 4})
            env, segs = parse(w.recv_raw())
            self.assertEqual(env, {"id": 30, "item": "\udbff0"})
            self.assertEqual(segs, [big.encode()])
            self.assertEqual(w.recv(), {"id": 30, "ok": True, "result": {"items": 1}})
        finally:
            w.close()


    def test_a_call_into_go_sends_large_args_as_segments(self) -> None:
        w = ThreadedWorker(modules=["tests.bridge_handlers"], max_frame=1 << 24)
        try:
            w.call("ping", {"segments": True})
            big = "c" * SEGMENT_MIN
            w.send({"id": 31, "method": "ask", "args": {"name": "f", "args": {"text": big}}})
            env, segs = parse(w.recv_raw())
            self.assertEqual(env, {"id": 31, "callback": {"seq": 1, "name": "f", "args": {"text": "\udbff0"}}})
            self.assertEqual(segs, [big.encode()])
            w.send({"id": 31, "method": "$return", "args": {"seq": 1, "ok": True, "result": "done"}})
            self.assertEqual(w.recv(), {"id": 31, "ok": True, "result": {"answer": "done"}})
        finally:
            w.close()


if __name__ == "__main__":
    unittest.main()
