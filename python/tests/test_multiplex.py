"""A worker serving many calls at once (--concurrency N > 1; PROTOCOL.md, Concurrency)."""

import json
import unittest

from tests.helpers import HEADER, ThreadedWorker


class MultiplexTest(unittest.TestCase):
    def setUp(self) -> None:
        self.w = ThreadedWorker(modules=["tests.mux_handlers"], concurrency=4)

    def tearDown(self) -> None:
        self.assertEqual(self.w.close(), 0)

    def test_ping_lists_multiplex_and_the_limit(self) -> None:
        result = self.w.call("ping")["result"]
        self.assertIn("multiplex", result["features"])
        self.assertEqual(result["concurrency"], 4)

    def test_one_at_a_time_worker_does_not_list_multiplex(self) -> None:
        w = ThreadedWorker()
        try:
            result = w.call("ping")["result"]
            self.assertNotIn("multiplex", result["features"])
            self.assertNotIn("concurrency", result)
        finally:
            self.assertEqual(w.close(), 0)

    def test_replies_come_out_of_order_matched_by_id(self) -> None:
        self.w.send({"id": 1, "method": "wait_gate", "args": "ooo-a"})
        self.w.send({"id": 2, "method": "wait_gate", "args": "ooo-b"})
        self.w.send({"id": 3, "method": "open_gate", "args": "ooo-b"})
        self.assertEqual(self.w.recv(), {"id": 3, "ok": True, "result": True})
        self.assertEqual(self.w.recv(), {"id": 2, "ok": True, "result": "ooo-b"})
        self.w.send({"id": 4, "method": "open_gate", "args": "ooo-a"})
        replies = {r["id"]: r for r in (self.w.recv(), self.w.recv())}
        self.assertEqual(replies[1]["result"], "ooo-a")
        self.assertEqual(replies[4]["result"], True)

    def test_ping_is_answered_while_calls_are_in_flight(self) -> None:
        self.w.send({"id": 1, "method": "wait_gate", "args": "ping-a"})
        self.w.send({"id": 2, "method": "ping"})
        self.assertEqual(self.w.recv()["id"], 2)
        self.w.send({"id": 3, "method": "open_gate", "args": "ping-a"})
        self.assertEqual({self.w.recv()["id"], self.w.recv()["id"]}, {1, 3})

    def test_cancel_cancels_only_its_call(self) -> None:
        self.w.send({"id": 1, "method": "wait_gate", "args": "cancel-a"})
        self.w.send({"id": 2, "method": "wait_gate", "args": "cancel-b"})
        self.w.send({"id": 1, "method": "$cancel"})
        reply = self.w.recv()
        self.assertEqual(reply["id"], 1)
        self.assertEqual(reply["error"]["kind"], "cancelled")
        self.w.send({"id": 3, "method": "open_gate", "args": "cancel-b"})
        replies = {r["id"]: r for r in (self.w.recv(), self.w.recv())}
        self.assertEqual(replies[2], {"id": 2, "ok": True, "result": "cancel-b"})

    def test_requests_beyond_the_limit_wait_for_a_slot(self) -> None:
        for i in range(5):
            self.w.send({"id": i + 1, "method": "wait_gate", "args": f"limit-{i}"})
        self.w.send({"id": 9, "method": "open_gate", "args": "limit-4"})  # the fifth waits: four in flight
        self.assertEqual(self.w.recv()["id"], 9)
        self.w.send({"id": 10, "method": "open_gate", "args": "limit-0"})
        got = {self.w.recv()["id"] for _ in range(3)}  # 10, 1, then 5 (started as 1 ended, its gate open)
        self.assertEqual(got, {10, 1, 5})
        for i in (1, 2, 3):
            self.w.send({"id": 20 + i, "method": "open_gate", "args": f"limit-{i}"})
        self.assertEqual({self.w.recv()["id"] for _ in range(6)}, {21, 22, 23, 2, 3, 4})

    def test_a_cancel_right_behind_its_request(self) -> None:
        # Both frames in one write: the task is cancelled before it first runs.
        body = b"".join(HEADER.pack(len(b)) + b for b in (
            json.dumps({"id": 1, "method": "wait_gate", "args": "behind-a"}).encode(),
            json.dumps({"id": 1, "method": "$cancel"}).encode(),
        ))
        self.w.send_raw(body)
        reply = self.w.recv()
        self.assertEqual((reply["id"], reply["error"]["kind"]), (1, "cancelled"))
        self.assertTrue(self.w.call("ping")["ok"])

    def test_cancel_of_a_call_waiting_for_a_slot(self) -> None:
        for i in range(5):
            self.w.send({"id": i + 1, "method": "wait_gate", "args": f"slot-{i}"})
        self.w.send({"id": 5, "method": "$cancel"})
        reply = self.w.recv()
        self.assertEqual((reply["id"], reply["error"]["kind"]), (5, "cancelled"))
        for i in range(4):
            self.w.send({"id": 10 + i, "method": "open_gate", "args": f"slot-{i}"})
        self.assertEqual({self.w.recv()["id"] for _ in range(8)}, {1, 2, 3, 4, 10, 11, 12, 13})

    def test_a_stream_and_a_call_interleave(self) -> None:
        self.w.send({"id": 1, "method": "gated_items", "args": {"n": 3, "gate": "stream-a"}, "stream": 1})
        self.assertEqual(self.w.recv(), {"id": 1, "item": 0})
        self.w.send({"id": 2, "method": "sync_echo", "args": "x"})
        self.assertEqual(self.w.recv(), {"id": 2, "ok": True, "result": "x"})
        self.w.send({"id": 1, "method": "$credit", "args": 5})
        self.assertEqual(self.w.recv(), {"id": 1, "item": 1})
        self.w.send({"id": 3, "method": "open_gate", "args": "stream-a"})
        frames = [self.w.recv() for _ in range(3)]
        self.assertIn({"id": 3, "ok": True, "result": True}, frames)
        self.assertEqual([f for f in frames if f["id"] == 1], [{"id": 1, "item": 2}, {"id": 1, "ok": True, "result": {"items": 3}}])

    def test_callbacks_of_two_calls_are_answered_out_of_order(self) -> None:
        self.w.send({"id": 1, "method": "ask", "args": 1})
        self.w.send({"id": 2, "method": "ask", "args": 2})
        cbs = {f["id"]: f["callback"] for f in (self.w.recv(), self.w.recv())}
        self.assertEqual(cbs[1]["args"], 1)
        self.assertEqual(cbs[2]["args"], 2)
        self.w.send({"id": 2, "method": "$return", "args": {"seq": cbs[2]["seq"], "ok": True, "result": 4}})
        self.assertEqual(self.w.recv(), {"id": 2, "ok": True, "result": {"answer": 4, "id": 2}})
        self.w.send({"id": 1, "method": "$return", "args": {"seq": cbs[1]["seq"], "ok": True, "result": 2}})
        self.assertEqual(self.w.recv(), {"id": 1, "ok": True, "result": {"answer": 2, "id": 1}})

    def test_an_async_handler_that_raises_answers_its_own_call(self) -> None:
        self.w.send({"id": 1, "method": "wait_gate", "args": "raise-a"})
        self.w.send({"id": 2, "method": "boom", "args": 7})
        reply = self.w.recv()
        self.assertEqual((reply["id"], reply["error"]["type"], reply["error"]["message"]), (2, "ValueError", "boom 7"))
        self.w.send({"id": 3, "method": "open_gate", "args": "raise-a"})
        self.assertEqual({self.w.recv()["id"], self.w.recv()["id"]}, {1, 3})

    def test_an_async_stream_called_plainly_is_refused(self) -> None:
        reply = self.w.call("gated_items", {"n": 2, "gate": "plain-a"})
        self.assertEqual(reply["error"]["type"], "StreamingMethod")

    def test_shutdown_ends_the_worker_with_calls_in_flight(self) -> None:
        self.w.send({"id": 1, "method": "wait_gate", "args": "shutdown-a"})
        reply = self.w.call("shutdown")
        self.assertTrue(reply["ok"])


if __name__ == "__main__":
    unittest.main()
