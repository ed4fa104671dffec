import contextlib
import io
import os
import threading
import unittest

from pyharness_worker import PROTOCOL_VERSION
from pyharness_worker.framing import HEADER
from pyharness_worker.handlers import HandlerError
from pyharness_worker.server import EXIT_OK, EXIT_PROTOCOL, Worker

from .helpers import ThreadedWorker


class ServerTest(unittest.TestCase):
    def setUp(self) -> None:
        self.w = ThreadedWorker(modules=["tests.sample_handlers", "tests.explicit_handlers"])

    def tearDown(self) -> None:
        self.w.close()

    def test_ping_reply_is_the_hello_of_the_worker(self) -> None:
        from pyharness_worker import builtin_methods

        first = self.w.call("ping")["result"]
        second = self.w.call("ping")["result"]  # from the cached part
        expected = builtin_methods.hello(self.w.worker)
        for result in (first, second):
            self.assertEqual(sorted(result), sorted(expected))
            self.assertEqual({k: v for k, v in result.items() if k != "uptime"}, {k: v for k, v in expected.items() if k != "uptime"})
        self.assertGreaterEqual(second["uptime"], first["uptime"])

    def test_ping_asked_as_a_stream_is_one_item(self) -> None:
        self.w.send({"id": 7, "method": "ping", "stream": 4})
        item = self.w.recv()
        self.assertEqual(item["item"]["pid"], os.getpid())
        self.assertEqual(self.w.recv(), {"id": 7, "ok": True, "result": {"items": 1}})

    def test_a_probe_pipelined_behind_a_stream_neither_stalls_it_nor_is_lost(self) -> None:
        from tests import stream_probe_handlers

        w = ThreadedWorker(modules=["tests.stream_probe_handlers"])
        self.addCleanup(w.close)
        stream_probe_handlers.go_on.clear()
        w.send({"id": 1, "method": "paced_items", "args": 4, "stream": 10})  # credit for every item
        self.assertEqual(w.recv(), {"id": 1, "item": 0})
        w.send({"id": 2, "method": "ping"})  # a health probe behind the stream, with no frame after it
        stream_probe_handlers.go_on.set()
        w.client.settimeout(5)  # a stall would otherwise wait for a frame that never comes
        frames = [w.recv() for _ in range(5)]
        self.assertEqual(frames[:4], [{"id": 1, "item": 1}, {"id": 1, "item": 2}, {"id": 1, "item": 3}, {"id": 1, "ok": True, "result": {"items": 4}}])
        self.assertEqual(frames[4]["id"], 2, "the probe is answered after the stream")
        self.assertTrue(frames[4]["ok"])

    def test_a_probe_pipelined_behind_an_async_handler_does_not_block_its_event_loop(self) -> None:
        from tests import stream_probe_handlers

        w = ThreadedWorker(modules=["tests.stream_probe_handlers"])
        self.addCleanup(w.close)
        stream_probe_handlers.go_on.clear()
        w.send({"id": 1, "method": "paced_wait"})
        w.send({"id": 2, "method": "ping"})  # a health probe behind the call, with no frame after it
        threading.Timer(0.2, stream_probe_handlers.go_on.set).start()
        w.client.settimeout(5)  # a blocked loop would otherwise wait for a frame that never comes
        self.assertEqual(w.recv(), {"id": 1, "ok": True, "result": "done"})
        self.assertEqual(w.recv()["id"], 2, "the probe is answered after the call")

    def test_ping_names_the_pid_of_a_fork(self) -> None:
        from pyharness_worker import builtin_methods

        self.w.call("ping")  # cached in the parent
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            os.write(w, str(builtin_methods.hello(self.w.worker)["pid"] == os.getpid()).encode())
            os._exit(0)
        os.close(w)
        with os.fdopen(r) as f:
            self.assertEqual(f.read(), "True")
        os.waitpid(pid, 0)

    def test_ping(self) -> None:
        reply = self.w.call("ping")
        self.assertTrue(reply["ok"])
        result = reply["result"]
        self.assertEqual(result["pid"], os.getpid())
        self.assertEqual(result["worker_id"], "t1")
        self.assertEqual(result["protocol"], PROTOCOL_VERSION)
        self.assertGreaterEqual(result["uptime"], 0)
        self.assertRegex(result["python"], r"^3\.\d+")

    def test_info_lists_methods_and_modules(self) -> None:
        result = self.w.call("info")["result"]
        for name in ("ping", "echo", "add", "remember", "double"):
            self.assertIn(name, result["methods"])
        self.assertNotIn("getpid", result["methods"])
        self.assertNotIn("_private", result["methods"])
        self.assertEqual(result["modules"], ["tests.sample_handlers", "tests.explicit_handlers"])

    def test_echo_keeps_values_exact(self) -> None:
        value = {"big": 2**64 + 3, "s": "a\U0001F600e\u0301", "n": None, "l": [1.5, True, {}]}
        self.assertEqual(self.w.call("echo", value)["result"], value)

    def test_user_handlers(self) -> None:
        self.assertEqual(self.w.call("add", {"a": 2, "b": 3})["result"], 5)
        self.assertEqual(self.w.call("double", 21)["result"], 42)

    def test_session_state_and_reset(self) -> None:
        self.assertEqual(self.w.call("remember", "a", session="s1")["result"], 1)
        self.assertEqual(self.w.call("remember", "b", session="s1")["result"], 2)
        self.assertEqual(self.w.call("remember", "c", session="s2")["result"], 1)
        self.assertEqual(self.w.call("reset", None, session="s1")["result"], {"cleared": 1})
        self.assertEqual(self.w.call("remember", "d", session="s1")["result"], 1)
        self.assertEqual(self.w.call("remember", "e", session="s2")["result"], 2)
        self.assertEqual(self.w.call("reset")["result"], {"cleared": 2})

    def test_state_fingerprints_modules_and_globals(self) -> None:
        before = self.w.call("state")["result"]
        self.assertIn("tests.sample_handlers", before["globals"])
        self.assertIn("add", before["globals"]["tests.sample_handlers"])
        import tests.sample_handlers as mod
        mod.LEAKED = [1, 2]
        try:
            after = self.w.call("state")["result"]
        finally:
            del mod.LEAKED
        self.assertEqual(after["globals"]["tests.sample_handlers"]["LEAKED"], "list:[1, 2]")
        self.assertIn("tests.sample_handlers", after["modules"])

    def test_unknown_method(self) -> None:
        reply = self.w.call("nope")
        self.assertFalse(reply["ok"])
        self.assertEqual(reply["error"]["kind"], "unknown_method")
        self.assertIn("nope", reply["error"]["message"])

    def test_exception_has_type_message_and_traceback(self) -> None:
        reply = self.w.call("fail", {"type": "KeyError", "message": "missing"})
        err = reply["error"]
        self.assertEqual((err["kind"], err["type"]), ("exception", "KeyError"))
        self.assertIn("missing", err["message"])
        self.assertIn("Traceback (most recent call last)", err["traceback"])
        custom = self.w.call("fail", {"type": "ModelNotLoaded", "message": "x"})["error"]
        self.assertEqual(custom["type"], "ModelNotLoaded")
        self.assertTrue(self.w.call("ping")["ok"], "worker lives on after an exception")

    def test_unserialisable_result_keeps_worker_alive(self) -> None:
        self.w.worker.methods["bad"] = lambda args: {"obj": object()}
        reply = self.w.call("bad")
        self.assertEqual(reply["error"]["kind"], "unserializable")
        self.assertEqual(reply["error"]["type"], "TypeError")
        self.w.worker.methods["nan"] = lambda args: float("nan")
        self.assertEqual(self.w.call("nan")["error"]["kind"], "unserializable")
        self.assertTrue(self.w.call("ping")["ok"])

    def test_oversize_reply_becomes_an_error(self) -> None:
        reply = self.w.call("big", 2 << 20)
        self.assertEqual(reply["error"]["kind"], "too_large")
        self.assertEqual(len(self.w.call("big", 1000)["result"]), 1000)

    def test_bad_request_gets_a_typed_error(self) -> None:
        self.w.send({"id": 7, "method": 3})
        reply = self.w.recv()
        self.assertEqual((reply["id"], reply["error"]["kind"]), (7, "bad_request"))

    def test_print_does_not_touch_the_frame_channel(self) -> None:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            reply = self.w.call("print", {"stdout": "to out", "stderr": "to err"})
        self.assertEqual(reply, {"id": reply["id"], "ok": True, "result": None})
        self.assertEqual((out.getvalue(), err.getvalue()), ("to out\n", "to err\n"))

    def test_plain_calls_and_the_general_path_give_the_same_replies(self) -> None:
        # A small request of a known method is served in one step (_plain);
        # what it cannot carry goes the general way, with the same answers.
        self.assertEqual(self.w.call("echo", "h\u00e9"), {"id": 1, "ok": True, "result": "h\u00e9"})
        self.assertEqual(self.w.call("echo", 2**70)["result"], 2**70)
        self.assertEqual(self.w.call("echo", None, session="s1", deadline_ms=2**41)["result"], None)
        self.assertEqual(self.w.call("echo", {"a": [1, 2.5]})["result"], {"a": [1, 2.5]})
        self.assertEqual(self.w.call("nope")["error"]["kind"], "unknown_method")
        self.assertEqual(self.w.call("echo", "x", session=3)["error"]["kind"], "bad_request")
        self.assertEqual(self.w.call("echo", "x", deadline_ms="soon")["error"]["kind"], "bad_request")
        self.w.worker.methods["surrogate"] = lambda args: "lone \ud800"
        self.assertEqual(self.w.call("surrogate")["error"]["kind"], "unserializable")
        self.assertEqual(self.w.call("echo", "still serving")["result"], "still serving")
        self.assertEqual(self.w.worker.served, 7)  # the two bad requests are answered, not served

    def test_garbage_writes_malformed_frames(self) -> None:
        self.w.send({"id": 1, "method": "garbage", "args": {"mode": "json"}})
        self.assertEqual(self.w.recv_raw(), b"{this is not json")
        self.w.send({"id": 2, "method": "garbage", "args": {"mode": "id"}})
        self.assertEqual(self.w.recv()["id"], 1002)
        self.w.send({"id": 3, "method": "garbage", "args": {"mode": "length"}})
        self.assertEqual(self.w.rfile.read(4), HEADER.pack(0xFFFFFFFF))

    def test_shutdown_replies_then_stops(self) -> None:
        self.assertTrue(self.w.call("shutdown")["ok"])
        self.w._thread.join(timeout=10)
        self.assertEqual(self.w.exit_code, EXIT_OK)

    def test_oversize_request_is_a_protocol_violation(self) -> None:
        self.w.send_raw(HEADER.pack(0xFFFFFFFF))
        self.w._thread.join(timeout=10)
        self.assertEqual(self.w.exit_code, EXIT_PROTOCOL)

    def test_non_json_request_is_a_protocol_violation(self) -> None:
        self.w.send_raw(HEADER.pack(3) + b"{{{")
        self.w._thread.join(timeout=10)
        self.assertEqual(self.w.exit_code, EXIT_PROTOCOL)

    def test_eof_ends_cleanly(self) -> None:
        self.assertEqual(self.w.close(), EXIT_OK)


class HandlerLoadingTest(unittest.TestCase):
    def test_clash_with_builtin_is_refused(self) -> None:
        import socket

        a, b = socket.socketpair()
        try:
            with self.assertRaises(HandlerError):
                Worker(b, modules=["tests.clashing_handlers"])
        finally:
            a.close()
            b.close()


if __name__ == "__main__":
    unittest.main()


class ValidRequestsTest(unittest.TestCase):
    """Valid requests never take the worker down: an exact answer or a typed error."""

    def setUp(self) -> None:
        self.w = ThreadedWorker(modules=["tests.sample_handlers"])

    def tearDown(self) -> None:
        self.w.close()

    def alive(self) -> None:
        self.assertTrue(self.w.call("ping")["ok"])

    def test_args_nested_too_deep_are_a_bad_request(self) -> None:
        deep = "[" * 10000 + "]" * 10000
        reply = self.w.call_raw('{"id": 7, "method": "echo", "args": ' + deep + "}")
        self.assertEqual(reply["id"], 7)
        self.assertEqual(reply["error"]["kind"], "bad_request")
        self.assertIn("nested too deep", reply["error"]["message"])
        self.alive()

    def test_integers_beyond_4300_digits_round_trip(self) -> None:
        big = 7 ** 20000  # about 16,900 digits
        self.assertEqual(self.w.call("echo", big)["result"], big)
        self.alive()

    def test_an_exception_whose_str_raises(self) -> None:
        reply = self.w.call("broken_str")
        self.assertEqual(reply["error"]["kind"], "exception")
        self.assertEqual(reply["error"]["type"], "BrokenStr")
        self.assertIn("str() raised", reply["error"]["message"])
        self.alive()

    def test_a_lone_surrogate_in_an_exception_message_keeps_the_type(self) -> None:
        reply = self.w.call("fail", {"type": "ValueError", "message": "bad \ud800 byte"})
        self.assertEqual(reply["error"]["kind"], "exception")
        self.assertEqual(reply["error"]["type"], "ValueError")
        self.assertIn("\\ud800", reply["error"]["message"])
        self.alive()


class SmallFrameTest(unittest.TestCase):
    def test_the_too_large_reply_fits_the_smallest_frame_limit(self) -> None:
        w = ThreadedWorker(max_frame=1024)
        try:
            reply = w.call("x" * 900)  # the unknown-method message alone is over the limit
            self.assertEqual(reply["error"]["kind"], "unknown_method")
            reply = w.call("big", 5000)
            self.assertEqual(reply["error"]["kind"], "too_large")
            self.assertTrue(w.call("ping")["ok"])
        finally:
            w.close()
