"""A multiplexing worker's sync handlers in threads (--sync-threads), its
report of a blocked event loop and its pings meanwhile (--slow-callback;
PROTOCOL.md, Concurrency)."""

import contextlib
import io
import json
import re
import socket
import unittest
from typing import Any, Dict, List

from pyharness_worker.framing import read_frame
from tests.helpers import HEADER, ThreadedWorker

HANDLERS = ["tests.mux_handlers", "tests.mux_thread_handlers"]


class Harness(unittest.TestCase):
    def start(self, **options: Any) -> ThreadedWorker:
        w = ThreadedWorker(modules=HANDLERS, **options)
        w._next = 1000  # the ids call() takes: clear of those the tests send
        self.addCleanup(lambda: self.assertEqual(w.close(), 0))
        return w

    def replies(self, w: ThreadedWorker, n: int) -> Dict[int, Any]:
        """The next n frames, by id (each id once)."""
        got: Dict[int, Any] = {}
        for _ in range(n):
            frame = w.recv()
            self.assertNotIn(frame["id"], got, frame)
            got[frame["id"]] = frame
        return got

    def calls(self, w: ThreadedWorker, rid: int) -> Dict[str, int]:
        w.send({"id": rid, "method": "info"})
        reply = w.recv()
        self.assertEqual(reply["id"], rid, reply)
        return reply["result"]["calls"]


class SyncThreadsTest(Harness):
    def test_ping_lists_the_threads(self) -> None:
        result = self.start(concurrency=4, sync_threads=2).call("ping")["result"]
        self.assertEqual((result["concurrency"], result["sync_threads"]), (4, 2))

    def test_threads_beyond_the_limit_are_never_used(self) -> None:
        result = self.start(concurrency=3, sync_threads=8).call("ping")["result"]
        self.assertEqual(result["sync_threads"], 3)

    def test_sync_threads_mean_nothing_to_a_one_at_a_time_worker(self) -> None:
        w = self.start(sync_threads=4)
        result = w.call("ping")["result"]
        self.assertNotIn("sync_threads", result)
        self.assertNotIn("multiplex", result["features"])
        self.assertEqual(w.call("where")["result"], w._thread.name)  # the thread serve() runs on
        self.assertNotIn("calls", w.call("info")["result"])

    def test_by_default_sync_handlers_run_on_the_loop_thread(self) -> None:
        w = self.start(concurrency=4)
        self.assertNotIn("sync_threads", w.call("ping")["result"])
        self.assertEqual(w.call("where")["result"], w._thread.name)  # the thread serve() runs on

    def test_two_sync_handlers_run_at_once(self) -> None:
        w = self.start(concurrency=4, sync_threads=2)
        w.send({"id": 1, "method": "meet", "args": {"name": "overlap", "parties": 2}})
        w.send({"id": 2, "method": "meet", "args": {"name": "overlap", "parties": 2}})
        got = self.replies(w, 2)
        self.assertTrue(got[1]["ok"] and got[2]["ok"], got)
        self.assertEqual({got[1]["result"], got[2]["result"]}, {"pyharness-sync-1", "pyharness-sync-2"})

    def test_async_calls_and_pings_run_while_a_sync_handler_waits(self) -> None:
        w = self.start(concurrency=4, sync_threads=1)
        w.send({"id": 1, "method": "tgate", "args": "busy-a"})
        self.assertEqual(w.call("aecho", "meanwhile")["result"], "meanwhile")
        self.assertTrue(w.call("ping")["ok"])
        w.send({"id": 9, "method": "topen", "args": "busy-a"})
        got = self.replies(w, 2)
        self.assertEqual(got[1], {"id": 1, "ok": True, "result": "busy-a"})

    def test_a_sync_call_waits_for_a_free_thread(self) -> None:
        w = self.start(concurrency=4, sync_threads=2)
        for rid, name in ((1, "free-a"), (2, "free-b"), (3, "free-c")):
            w.send({"id": rid, "method": "tgate", "args": name})
        self.assertEqual(self.calls(w, 10), {"tasks": 0, "threads": 2, "waiting": 1})
        w.send({"id": 11, "method": "topen", "args": "free-c"})  # the third would end at once, were it running
        self.assertEqual(w.recv(), {"id": 11, "ok": True, "result": True})
        self.assertEqual(self.calls(w, 12), {"tasks": 0, "threads": 2, "waiting": 1})
        w.send({"id": 13, "method": "topen", "args": "free-a"})
        got = self.replies(w, 3)  # 13, 1, and 3 started in 1's thread
        self.assertEqual((got[1]["result"], got[3]["result"], got[13]["result"]), ("free-a", "free-c", True))
        w.send({"id": 14, "method": "topen", "args": "free-b"})
        self.assertEqual(set(self.replies(w, 2)), {2, 14})
        self.assertEqual(self.calls(w, 15), {"tasks": 0, "threads": 0, "waiting": 0})

    def test_calls_in_threads_and_tasks_share_the_limit(self) -> None:
        w = self.start(concurrency=3, sync_threads=3)
        w.send({"id": 1, "method": "wait_gate", "args": "share-1"})
        w.send({"id": 2, "method": "wait_gate", "args": "share-2"})
        w.send({"id": 3, "method": "tgate", "args": "share-3"})
        w.send({"id": 4, "method": "tgate", "args": "share-4"})  # a thread is free, the limit is not
        self.assertEqual(self.calls(w, 10), {"tasks": 2, "threads": 1, "waiting": 1})
        w.send({"id": 1, "method": "$cancel"})
        self.assertEqual(w.recv()["error"]["kind"], "cancelled")
        self.assertEqual(self.calls(w, 11), {"tasks": 1, "threads": 2, "waiting": 0})
        w.send({"id": 2, "method": "$cancel"})
        self.assertEqual(w.recv()["id"], 2)
        w.send({"id": 12, "method": "topen", "args": "share-3"})
        self.assertEqual(set(self.replies(w, 2)), {3, 12})
        w.send({"id": 13, "method": "topen", "args": "share-4"})
        got = self.replies(w, 2)
        self.assertEqual(got[4], {"id": 4, "ok": True, "result": "share-4"})

    def test_cancel_of_a_sync_call_waiting_for_a_thread(self) -> None:
        w = self.start(concurrency=4, sync_threads=1)
        w.send({"id": 1, "method": "tgate", "args": "wait-a"})
        w.send({"id": 2, "method": "tgate", "args": "wait-b"})
        w.send({"id": 2, "method": "$cancel"})
        reply = w.recv()
        self.assertEqual((reply["id"], reply["error"]["kind"]), (2, "cancelled"))
        self.assertIn("before it started", reply["error"]["message"])
        self.assertEqual(self.calls(w, 10), {"tasks": 0, "threads": 1, "waiting": 0})
        w.send({"id": 11, "method": "topen", "args": "wait-a"})
        self.assertEqual(set(self.replies(w, 2)), {1, 11})
        self.assertEqual(self.calls(w, 12), {"tasks": 0, "threads": 0, "waiting": 0})

    def test_a_cancelled_sync_call_answers_as_it_ends(self) -> None:
        w = self.start(concurrency=4, sync_threads=1)
        w.send({"id": 1, "method": "tgate", "args": "late-a"})
        w.send({"id": 1, "method": "$cancel"})  # it cannot be interrupted
        self.assertEqual(self.calls(w, 10), {"tasks": 0, "threads": 1, "waiting": 0})
        w.send({"id": 11, "method": "topen", "args": "late-a"})
        got = self.replies(w, 2)
        self.assertEqual(got[1], {"id": 1, "ok": True, "result": "late-a"})

    def test_callbacks_from_sync_handlers_in_threads(self) -> None:
        w = self.start(concurrency=4, sync_threads=2)
        w.send({"id": 1, "method": "sync_ask", "args": 1})
        w.send({"id": 2, "method": "sync_ask", "args": 2})
        cbs = {f["id"]: f["callback"] for f in (w.recv(), w.recv())}
        self.assertEqual((cbs[1]["name"], cbs[1]["args"], cbs[2]["args"]), ("double", 1, 2))
        self.assertEqual(w.call("aecho", "between")["result"], "between")
        w.send({"id": 2, "method": "$return", "args": {"seq": cbs[2]["seq"], "ok": True, "result": 4}})
        self.assertEqual(w.recv(), {"id": 2, "ok": True, "result": {"answer": 4, "id": 2}})
        w.send({"id": 1, "method": "$return", "args": {"seq": cbs[1]["seq"], "ok": True, "result": 2}})
        self.assertEqual(w.recv(), {"id": 1, "ok": True, "result": {"answer": 2, "id": 1}})

    def test_a_go_error_reaches_the_sync_handler_in_its_thread(self) -> None:
        w = self.start(concurrency=2, sync_threads=1)
        w.send({"id": 1, "method": "sync_ask", "args": 1})
        cb = w.recv()["callback"]
        err = {"kind": "error", "type": "GoError", "message": "no"}
        w.send({"id": 1, "method": "$return", "args": {"seq": cb["seq"], "ok": False, "error": err}})
        reply = w.recv()
        self.assertEqual((reply["id"], reply["error"]["type"], reply["error"]["message"]), (1, "GoError", "no"))

    def test_cancel_of_a_sync_call_waiting_for_go(self) -> None:
        w = self.start(concurrency=4, sync_threads=1)
        w.send({"id": 1, "method": "sync_ask", "args": 5})
        self.assertIn("callback", w.recv())
        w.send({"id": 1, "method": "$cancel"})
        reply = w.recv()
        self.assertEqual((reply["id"], reply["error"]["kind"]), (1, "cancelled"))
        self.assertEqual(self.calls(w, 10), {"tasks": 0, "threads": 0, "waiting": 0})
        w.send({"id": 2, "method": "sync_ask", "args": 3})
        self.assertEqual(w.recv()["callback"]["args"], 3)  # the thread serves the next call
        w.send({"id": 2, "method": "$cancel"})
        self.assertEqual(w.recv()["id"], 2)

    def test_a_sync_stream_in_a_thread_keeps_to_its_credit(self) -> None:
        w = self.start(concurrency=4, sync_threads=1)
        w.send({"id": 1, "method": "sync_items", "args": 3, "stream": 1})
        self.assertEqual(w.recv(), {"id": 1, "item": 0})
        self.assertEqual(w.call("aecho", "x")["result"], "x")  # the stream waits for credit in its thread
        w.send({"id": 1, "method": "$credit", "args": 5})
        frames = [w.recv() for _ in range(3)]
        self.assertEqual(frames, [{"id": 1, "item": 1}, {"id": 1, "item": 2}, {"id": 1, "ok": True, "result": {"items": 3}}])

    def test_cancel_of_a_sync_stream_in_a_thread(self) -> None:
        w = self.start(concurrency=4, sync_threads=1)
        w.send({"id": 1, "method": "sync_items", "args": 3, "stream": 1})
        self.assertEqual(w.recv(), {"id": 1, "item": 0})
        w.send({"id": 1, "method": "$cancel"})
        reply = w.recv()
        self.assertEqual((reply["id"], reply["error"]["kind"]), (1, "cancelled"))
        self.assertIn("after 1 items", reply["error"]["message"])

    def test_a_sync_callable_that_returns_a_coroutine_runs_it_as_a_task(self) -> None:
        w = ThreadedWorker(modules=["tests.mux_callable_handlers"], concurrency=2, sync_threads=1)
        try:
            self.assertEqual(w.call("later", 5), {"id": 1, "ok": True, "result": {"later": 5}})
            self.assertEqual(w.call("info")["result"]["calls"], {"tasks": 0, "threads": 0, "waiting": 0})
        finally:
            self.assertEqual(w.close(), 0)

    def test_a_bad_credit_for_a_call_in_a_thread_is_a_protocol_violation(self) -> None:
        w = ThreadedWorker(modules=HANDLERS, concurrency=4, sync_threads=1)
        w.send({"id": 1, "method": "sync_items", "args": 3, "stream": 1})
        self.assertEqual(w.recv(), {"id": 1, "item": 0})
        with contextlib.redirect_stderr(io.StringIO()) as err:
            w.send({"id": 1, "method": "$credit", "args": 0})
            self.assertEqual(w.close(), 4)
        self.assertIn("$credit of 0", err.getvalue())

    def test_builtins_stay_on_the_loop_thread(self) -> None:
        w = self.start(concurrency=2, sync_threads=1)
        w.send({"id": 1, "method": "tgate", "args": "builtin-a"})
        w.send({"id": 2, "method": "tgate", "args": "builtin-b"})  # waits: the one thread is busy
        self.assertEqual(w.call("echo", "e")["result"], "e")  # a built-in: not held back
        self.assertTrue(w.call("ping")["ok"])
        w.send({"id": 3, "method": "$cancel"})  # nothing of that id: ignored
        w.send({"id": 2, "method": "$cancel"})
        self.assertEqual(w.recv()["id"], 2)
        w.send({"id": 4, "method": "topen", "args": "builtin-a"})
        self.assertEqual(set(self.replies(w, 2)), {1, 4})

    def test_shutdown_with_a_sync_call_in_a_thread(self) -> None:
        w = ThreadedWorker(modules=HANDLERS, concurrency=2, sync_threads=1)
        w._next = 1000
        w.send({"id": 1, "method": "sync_ask", "args": 1})
        self.assertIn("callback", w.recv())
        self.assertTrue(w.call("shutdown")["ok"])
        self.assertEqual(w.close(), 0)


BLOCKED = re.compile(r"^pyharness: handler 'hog' \(call 1\) blocked the event loop for (\d+\.\d{3}) s$", re.M)


class BlockedLoopTest(Harness):
    THRESHOLD = 0.05

    def hog(self, w: ThreadedWorker) -> Dict[str, Any]:
        """Call hog (it blocks the loop past the threshold, then waits for
        Go with the loop still blocked) and return its callback frame."""
        w.send({"id": 1, "method": "hog", "args": self.THRESHOLD * 2})
        frame = w.recv()
        self.assertEqual((frame["id"], frame["callback"]["name"]), (1, "blocked"))
        return frame["callback"]

    def test_a_ping_is_answered_while_the_loop_is_blocked(self) -> None:
        w = self.start(concurrency=4, slow_callback=self.THRESHOLD)
        with contextlib.redirect_stderr(io.StringIO()):
            cb = self.hog(w)
            w.send({"id": 2, "method": "ping"})
            reply = w.recv()
            self.assertEqual(reply["id"], 2)
            result = reply["result"]
            self.assertEqual(result["blocked_by"], "handler 'hog' (call 1)")
            self.assertGreater(result["loop_blocked"], self.THRESHOLD)
            self.assertEqual((result["worker_id"], result["concurrency"], result["slow_callback"]), ("t1", 4, self.THRESHOLD))
            self.assertIn("multiplex", result["features"])
            w.send({"id": 3, "method": "ping"})
            later = w.recv()["result"]
            self.assertGreaterEqual(later["loop_blocked"], result["loop_blocked"])
            w.send({"id": 1, "method": "$return", "args": {"seq": cb["seq"], "ok": True, "result": "done"}})
            self.assertEqual(w.recv(), {"id": 1, "ok": True, "result": "done"})
            self.assertEqual(w.call("aecho", 1)["result"], 1)  # served by the loop: its blocked turn has ended
            after = w.call("ping")["result"]
        self.assertNotIn("loop_blocked", after)
        self.assertNotIn("blocked_by", after)

    def test_a_ping_sent_as_the_block_begins_is_answered_once_it_passes_the_threshold(self) -> None:
        w = self.start(concurrency=4, slow_callback=self.THRESHOLD)
        with contextlib.redirect_stderr(io.StringIO()):
            w.send({"id": 1, "method": "sleeper", "args": self.THRESHOLD * 6})
            # A ping the loop takes before the task's first step is answered
            # at once; the next arrives early in the block, well before the
            # threshold: it is answered once the block passes the threshold,
            # not when the turn ends (after call 1's reply).
            rid, reply = 1, None
            while True:
                rid += 1
                w.send({"id": rid, "method": "ping"})
                reply = w.recv()
                self.assertEqual(reply["id"], rid, "a ping is answered before the blocking call ends")
                if "blocked_by" in reply["result"]:
                    break
            self.assertEqual(reply["result"]["blocked_by"], "handler 'sleeper' (call 1)")
            self.assertEqual(w.recv(), {"id": 1, "ok": True, "result": self.THRESHOLD * 6})

    def test_the_block_is_reported_on_stderr_once_it_ends(self) -> None:
        w = self.start(concurrency=4, slow_callback=self.THRESHOLD)
        with contextlib.redirect_stderr(io.StringIO()) as err:
            cb = self.hog(w)
            self.assertNotIn("blocked the event loop", err.getvalue())
            w.send({"id": 1, "method": "$return", "args": {"seq": cb["seq"], "ok": True, "result": 1}})
            self.assertEqual(w.recv()["result"], 1)
            self.assertEqual(w.call("aecho", 1)["result"], 1)  # a task: it runs in a later turn of the loop, the report is out
            text = err.getvalue()
        lines: List[str] = BLOCKED.findall(text)
        self.assertEqual(len(lines), 1, text)
        self.assertGreater(float(lines[0]), self.THRESHOLD * 2)

    def test_a_sync_handler_run_inline_is_named(self) -> None:
        w = self.start(concurrency=2, slow_callback=self.THRESHOLD)
        with contextlib.redirect_stderr(io.StringIO()) as err:
            w.send({"id": 7, "method": "sync_hog", "args": self.THRESHOLD * 2})  # inline: blocks the loop
            cb = w.recv()["callback"]
            w.send({"id": 9, "method": "ping"})
            reply = w.recv()
            self.assertEqual(reply["id"], 9, reply)
            self.assertEqual(reply["result"]["blocked_by"], "handler 'sync_hog' (call 7)")
            w.send({"id": 7, "method": "$return", "args": {"seq": cb["seq"], "ok": True, "result": 2}})
            self.assertEqual(w.recv()["id"], 7)
            self.assertEqual(w.call("aecho", 1)["result"], 1)  # a task: it runs in a later turn of the loop, the report is out
        self.assertRegex(err.getvalue(), r"pyharness: handler 'sync_hog' \(call 7\) blocked the event loop for \d+\.\d{3} s")

    def test_no_threshold_no_report(self) -> None:
        w = self.start(concurrency=2, slow_callback=0)
        self.assertNotIn("slow_callback", w.call("ping")["result"])
        with contextlib.redirect_stderr(io.StringIO()) as err:
            cb = self.hog(w)
            w.send({"id": 2, "method": "ping"})  # waits for the loop
            w.send({"id": 1, "method": "$return", "args": {"seq": cb["seq"], "ok": True, "result": 1}})
            got = self.replies(w, 2)
            self.assertNotIn("loop_blocked", got[2]["result"])
            self.assertTrue(w.call("ping")["ok"])
        self.assertNotIn("blocked the event loop", err.getvalue())

    def test_a_one_at_a_time_worker_reports_nothing(self) -> None:
        w = self.start(slow_callback=self.THRESHOLD)
        self.assertNotIn("slow_callback", w.call("ping")["result"])


if __name__ == "__main__":
    unittest.main()


class ProcessFlagsTest(unittest.TestCase):
    """The flags on a real worker process, its report on its own stderr."""

    def test_the_flags_and_the_report_of_a_worker_process(self) -> None:
        from tests.test_process import start

        proc, sock = start("--concurrency", "3", "--sync-threads", "2", "--slow-callback", "0.05",
                           "--module", "tests.mux_thread_handlers")
        self.addCleanup(proc.stdout.close)
        self.addCleanup(proc.stderr.close)
        self.addCleanup(sock.close)
        stream = sock.makefile("rb")
        self.addCleanup(stream.close)

        def send(doc: Any) -> None:
            body = json.dumps(doc).encode()
            sock.sendall(HEADER.pack(len(body)) + body)

        def recv() -> Any:
            return json.loads(read_frame(stream, 1 << 20))

        send({"id": 1, "method": "ping"})
        result = recv()["result"]
        self.assertEqual((result["concurrency"], result["sync_threads"], result["slow_callback"]), (3, 2, 0.05))
        send({"id": 2, "method": "where"})
        self.assertTrue(recv()["result"].startswith("pyharness-sync-"))
        send({"id": 3, "method": "hog", "args": 0.1})
        cb = recv()["callback"]
        send({"id": 4, "method": "ping"})
        self.assertEqual(recv()["result"]["blocked_by"], "handler 'hog' (call 3)")
        send({"id": 3, "method": "$return", "args": {"seq": cb["seq"], "ok": True, "result": None}})
        self.assertEqual(recv(), {"id": 3, "ok": True, "result": None})
        sock.shutdown(socket.SHUT_WR)
        self.assertEqual(proc.wait(10), 0)
        err = proc.stderr.read().decode()
        self.assertRegex(err, r"(?m)^pyharness: handler 'hog' \(call 3\) blocked the event loop for \d+\.\d{3} s$")
