"""Requests pipelined behind a running call (PROTOCOL.md, Pipelining): served
in turn, and answered cancelled without running when their $cancel came
before they started."""

import unittest

from pyharness_worker import builtin_methods

from . import stream_probe_handlers as gated
from .helpers import ThreadedWorker


class PipelineTest(unittest.TestCase):
    def setUp(self) -> None:
        gated.go_on.clear()
        gated.runs.clear()
        self.w = ThreadedWorker(modules=["tests.stream_probe_handlers"])
        self.w.client.settimeout(5)  # a request never answered fails the test, not the run

    def tearDown(self) -> None:
        gated.go_on.set()
        self.w.close()

    def test_a_one_at_a_time_worker_lists_pipeline_and_a_multiplexing_one_does_not(self) -> None:
        self.assertIn("pipeline", self.w.call("ping")["result"]["features"])
        mux = ThreadedWorker(modules=["tests.stream_probe_handlers"], concurrency=4)
        self.addCleanup(mux.close)
        features = mux.call("ping")["result"]["features"]
        self.assertIn("multiplex", features)
        self.assertNotIn("pipeline", features)
        self.assertEqual(builtin_methods.FEATURES.count("pipeline"), 0, "added per worker, not to the shared list")

    def test_a_request_behind_a_call_runs_after_it_in_turn(self) -> None:
        self.w.send({"id": 1, "method": "gate"})
        self.w.send({"id": 2, "method": "counted", "args": "b", "behind": True})
        self.w.send({"id": 3, "method": "counted", "args": "c", "behind": True})
        gated.go_on.set()
        self.assertEqual([self.w.recv() for _ in range(3)], [
            {"id": 1, "ok": True, "result": "opened"},
            {"id": 2, "ok": True, "result": "b"},
            {"id": 3, "ok": True, "result": "c"},
        ])
        self.assertEqual(gated.runs, ["b", "c"])

    def test_a_request_cancelled_behind_a_plain_call_is_answered_cancelled_in_turn_without_running(self) -> None:
        self.w.send({"id": 1, "method": "gate"})
        self.w.send({"id": 2, "method": "counted", "args": "b", "behind": True})
        self.w.send({"id": 2, "method": "$cancel"})
        self.w.send({"id": 3, "method": "counted", "args": "c"})
        gated.go_on.set()
        first, second, third = (self.w.recv() for _ in range(3))
        self.assertEqual(first, {"id": 1, "ok": True, "result": "opened"})
        self.assertEqual(second["id"], 2)
        self.assertFalse(second["ok"])
        self.assertEqual(second["error"]["kind"], "cancelled")
        self.assertEqual(second["error"]["message"], "cancelled by the caller before it started")
        self.assertEqual(third, {"id": 3, "ok": True, "result": "c"})
        self.assertEqual(gated.runs, ["c"], "the cancelled request never ran")
        self.assertEqual(self.w.worker._ahead, set())

    def test_a_cancel_read_while_a_stream_runs_is_kept_for_the_request_behind_it(self) -> None:
        self.w.send({"id": 1, "method": "paced_items", "args": 3, "stream": 10})
        self.assertEqual(self.w.recv(), {"id": 1, "item": 0})
        self.w.send({"id": 2, "method": "counted", "args": "b", "behind": True})
        self.w.send({"id": 2, "method": "$cancel"})
        self.w.send({"id": 3, "method": "counted", "args": "c", "behind": True})
        gated.go_on.set()
        frames = [self.w.recv() for _ in range(5)]
        self.assertEqual(frames[:3], [{"id": 1, "item": 1}, {"id": 1, "item": 2}, {"id": 1, "ok": True, "result": {"items": 3}}])
        self.assertEqual((frames[3]["id"], frames[3]["ok"], frames[3]["error"]["kind"]), (2, False, "cancelled"))
        self.assertEqual(frames[4], {"id": 3, "ok": True, "result": "c"})
        self.assertEqual(gated.runs, ["c"])

    def test_behind_that_is_not_a_boolean_is_a_bad_request(self) -> None:
        reply = self.w.call("counted", "x", behind="yes")
        self.assertEqual((reply["error"]["kind"], reply["error"]["message"]), ("bad_request", "behind must be a boolean"))
        self.assertEqual(self.w.call("counted", "y", behind=False), {"id": 2, "ok": True, "result": "y"})
        self.assertEqual(gated.runs, ["y"])

    def test_a_cancel_that_comes_after_its_request_ended_is_dropped(self) -> None:
        gated.go_on.set()
        self.assertEqual(self.w.call("counted", "a", behind=True), {"id": 1, "ok": True, "result": "a"})
        self.w.send({"id": 1, "method": "$cancel"})  # late: nothing to answer
        self.assertEqual(self.w.call("counted", "b"), {"id": 2, "ok": True, "result": "b"})
        self.assertEqual(self.w.worker._ahead, set())
        self.assertEqual(gated.runs, ["a", "b"])


if __name__ == "__main__":
    unittest.main()
