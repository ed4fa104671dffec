"""How a failed call into Go reaches the handler: GoError with its kind,
UnknownCallback for a name Go does not know or that is malformed."""

import unittest

from pyharness_worker.bridge import GoError, UnknownCallback

from .helpers import ThreadedWorker


class CallbackFaultsTest(unittest.TestCase):
    def setUp(self) -> None:
        self.w = ThreadedWorker(modules=["tests.bridge_handlers"])

    def tearDown(self) -> None:
        self.assertEqual(self.w.close(), 0)

    def test_each_kind_of_failure_is_a_goerror_of_that_kind(self) -> None:
        for rid, (kind, type_name) in enumerate(
            [("panic", "GoPanic"), ("goexit", "GoExit"), ("too_large", "GoError"), ("unencodable", "GoError"), ("error", "GoError")], start=1
        ):
            self.w.send({"id": rid, "method": "ask_typed", "args": {"name": "fn"}})
            self.assertEqual(self.w.recv()["callback"]["name"], "fn")
            err = {"kind": kind, "type": type_name, "message": f"it went {kind}"}
            self.w.send({"id": rid, "method": "$return", "args": {"seq": 1, "ok": False, "error": err}})
            got = self.w.recv()["result"]
            self.assertEqual(got, {"class": "GoError", "type": type_name, "kind": kind, "message": f"it went {kind}"})

    def test_an_unknown_name_raises_unknown_callback(self) -> None:
        self.w.send({"id": 1, "method": "ask_typed", "args": {"name": "nope"}})
        self.w.recv()
        err = {"kind": "unknown_callback", "type": "UnknownCallback", "message": 'no Go function "nope" is registered for this call'}
        self.w.send({"id": 1, "method": "$return", "args": {"seq": 1, "ok": False, "error": err}})
        got = self.w.recv()["result"]
        self.assertEqual(got["class"], "UnknownCallback")
        self.assertEqual(got["kind"], "unknown_callback")

    def test_a_malformed_name_raises_unknown_callback_without_asking_go(self) -> None:
        for rid, name in enumerate(["", 42, None, "\ud800"], start=1):
            self.w.send({"id": rid, "method": "ask_typed", "args": {"name": name}})
            reply = self.w.recv()  # the final reply: no callback frame went out
            self.assertEqual(reply["id"], rid)
            self.assertTrue(reply["ok"], reply)
            self.assertEqual(reply["result"]["class"], "UnknownCallback", name)
            self.assertIn("is not a valid name: it must be a non-empty string", reply["result"]["message"])
        self.assertEqual(self.w.call("echo", "alive")["result"], "alive")

    def test_unknown_callback_is_a_goerror(self) -> None:
        self.assertTrue(issubclass(UnknownCallback, GoError))
        self.assertEqual(UnknownCallback("m").kind, "unknown_callback")


if __name__ == "__main__":
    unittest.main()
