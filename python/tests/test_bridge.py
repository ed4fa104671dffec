"""Streams, cancellation, async handlers and calls into Go, over the wire."""

import unittest
from typing import Any, List

from .helpers import ThreadedWorker


class BridgeTest(unittest.TestCase):
    def setUp(self) -> None:
        import tests.bridge_handlers as handlers

        handlers.closed.clear()
        self.w = ThreadedWorker(modules=["tests.bridge_handlers"])

    def tearDown(self) -> None:
        self.assertEqual(self.w.close(), 0)

    def items_until_end(self, rid: int) -> "tuple[List[Any], Any]":
        items = []
        while True:
            frame = self.w.recv()
            self.assertEqual(frame["id"], rid)
            if "item" in frame:
                items.append(frame["item"])
                self.w.send({"id": rid, "method": "$credit", "args": 1})
            else:
                return items, frame

    def test_a_generator_streams_its_items_then_counts_them(self) -> None:
        self.w.send({"id": 1, "method": "count", "args": {"n": 5}, "stream": 2})
        items, end = self.items_until_end(1)
        self.assertEqual(items, [0, 1, 2, 3, 4])
        self.assertEqual(end, {"id": 1, "ok": True, "result": {"items": 5}})
        self.assertEqual(self.w.call("were_closed")["result"], ["count"])

    def test_credit_bounds_the_items_in_flight(self) -> None:
        self.w.send({"id": 1, "method": "count", "args": {"n": 100}, "stream": 3})
        got = [self.w.recv() for _ in range(3)]
        self.assertEqual([f["item"] for f in got], [0, 1, 2])
        self.w.send({"id": 1, "method": "$cancel", "args": None})
        end = self.w.recv()
        self.assertEqual(end["error"]["kind"], "cancelled", "no fourth item without credit")
        self.assertEqual(self.w.call("were_closed")["result"], ["count"], "the generator's finally ran")

    def test_an_error_mid_stream_ends_it_typed(self) -> None:
        self.w.send({"id": 1, "method": "fail_after", "args": {"n": 2}, "stream": 10})
        items, end = self.items_until_end(1)
        self.assertEqual(items, [0, 1])
        self.assertEqual((end["error"]["kind"], end["error"]["type"]), ("exception", "ValueError"))
        self.assertEqual(self.w.call("echo", 1)["result"], 1, "the worker lives on")

    def test_an_item_json_cannot_carry_ends_the_stream(self) -> None:
        self.w.send({"id": 1, "method": "bad_item", "args": None, "stream": 10})
        items, end = self.items_until_end(1)
        self.assertEqual(items, [1])
        self.assertEqual(end["error"]["kind"], "unserializable")

    def test_a_stream_called_as_a_plain_call_is_refused(self) -> None:
        reply = self.w.call("count", {"n": 3})
        self.assertEqual((reply["error"]["kind"], reply["error"]["type"]), ("bad_request", "StreamingMethod"))
        self.assertIn("call it with Stream", reply["error"]["message"])
        self.assertEqual(self.w.call("echo", 1)["result"], 1)

    def test_a_plain_result_asked_for_as_a_stream_is_one_item(self) -> None:
        self.w.send({"id": 1, "method": "echo", "args": "x", "stream": 1})
        items, end = self.items_until_end(1)
        self.assertEqual((items, end["result"]), (["x"], {"items": 1}))

    def test_late_control_frames_are_ignored(self) -> None:
        self.w.send({"id": 99, "method": "$cancel", "args": None})
        self.assertEqual(self.w.call("echo", 2)["result"], 2)

    def test_an_async_handler_runs_and_a_cancel_cancels_its_task(self) -> None:
        self.assertEqual(self.w.call("nap", 0)["result"], "rested")
        self.w.send({"id": 7, "method": "nap", "args": 30})
        self.assertEqual(self.w.recv()["callback"]["name"], "started")
        self.w.send({"id": 7, "method": "$return", "args": {"seq": 1, "ok": True, "result": None}})
        self.w.send({"id": 7, "method": "$cancel", "args": None})
        end = self.w.recv()
        self.assertEqual(end["error"]["kind"], "cancelled")
        self.assertEqual(self.w.call("were_closed")["result"], ["nap"], "CancelledError reached the handler")
        self.assertEqual(self.w.call("nap", 0)["result"], "rested", "the loop survives")

    def test_an_async_generator_streams(self) -> None:
        self.w.send({"id": 1, "method": "acount", "args": {"n": 3}, "stream": 1})
        items, end = self.items_until_end(1)
        self.assertEqual((items, end["result"]), ([0, 1, 2], {"items": 3}))

    def test_a_handler_calls_go_and_gets_its_result_or_its_error(self) -> None:
        for method in ("ask", "aask"):
            self.w.send({"id": 3, "method": method, "args": {"name": "weather", "args": {"city": "Oslo"}}})
            cb = self.w.recv()
            self.assertEqual(cb, {"id": 3, "callback": {"seq": 1, "name": "weather", "args": {"city": "Oslo"}}})
            self.w.send({"id": 3, "method": "$return", "args": {"seq": 1, "ok": True, "result": "rain"}})
            self.assertEqual(self.w.recv(), {"id": 3, "ok": True, "result": {"answer": "rain"}})
        self.w.send({"id": 4, "method": "ask", "args": {"name": "nope"}})
        self.w.recv()
        self.w.send({"id": 4, "method": "$return", "args": {"seq": 1, "ok": False, "error": {"type": "UnknownCallback", "message": "no nope"}}})
        self.assertEqual(self.w.recv()["result"], {"error": "UnknownCallback", "message": "no nope"})

    def test_a_cancel_during_a_call_into_go_cancels_the_handler(self) -> None:
        self.w.send({"id": 5, "method": "ask", "args": {"name": "slow"}})
        self.w.recv()
        self.w.send({"id": 5, "method": "$cancel", "args": None})
        self.assertEqual(self.w.recv()["error"]["kind"], "cancelled")

    def test_a_request_pipelined_behind_a_call_is_served_after_it(self) -> None:
        self.w.send({"id": 5, "method": "ask", "args": {"name": "slow"}})
        self.w.recv()
        self.w.send({"id": 6, "method": "echo", "args": "probe"})
        self.w.send({"id": 5, "method": "$return", "args": {"seq": 1, "ok": True, "result": 1}})
        self.assertEqual(self.w.recv(), {"id": 5, "ok": True, "result": {"answer": 1}})
        self.assertEqual(self.w.recv(), {"id": 6, "ok": True, "result": "probe"})


class AsyncCancelDuringCallGoTest(unittest.TestCase):
    """A $cancel that arrives while an async handler waits in acall_go
    raises CancelledError in it, as asyncio's own cancellation would."""

    def setUp(self) -> None:
        import tests.bridge_handlers as handlers

        handlers.closed.clear()
        self.w = ThreadedWorker(modules=["tests.bridge_handlers"])

    def tearDown(self) -> None:
        self.assertEqual(self.w.close(), 0)

    def test_cancel_instead_of_the_answer(self) -> None:
        self.w.send({"id": 9, "method": "nap", "args": 30})
        self.assertEqual(self.w.recv()["callback"]["name"], "started")
        self.w.send({"id": 9, "method": "$cancel", "args": None})
        self.assertEqual(self.w.recv()["error"]["kind"], "cancelled")
        self.assertEqual(self.w.call("were_closed")["result"], ["nap"], "the handler's except CancelledError ran")
        self.assertEqual(self.w.call("nap", 0)["result"], "rested", "the loop survives")
