"""The worker's command line: the parse that needs no argparse agrees with
argparse, and leaves argparse whatever is not the plain shape."""

import contextlib
import io
import unittest
from typing import List

from pyharness_worker import DEFAULT_MAX_FRAME
from pyharness_worker.__main__ import _parser, quick_parse

PLAIN: List[List[str]] = [
    ["--fd", "3"],
    ["--fd", "3", "--worker-id", "w-1", "--max-frame", "67108864"],
    ["--fd", "3", "--worker-id", "w-1", "--max-frame", "1024", "--module", "a.b", "--module", "c", "--alive-fd", "4"],
    ["--fd=3", "--worker-id=x=y", "--run-id", "run-9", "--module=m"],
    ["--worker-id", "", "--fd", "7", "--fd", "8", "--max-frame", "2048"],  # the last of a repeated flag wins
    ["--fd", "3", "--concurrency", "64"],
    ["--fd", "3", "--concurrency", "8", "--sync-threads", "4", "--slow-callback", "0.25"],
    ["--fd", "3", "--concurrency=8", "--sync-threads=0", "--slow-callback=0", "--slow-callback", "2"],
]

ODD: List[List[str]] = [
    [],  # --fd is required
    ["--help"],
    ["--fd", "x"],
    ["--fd"],
    ["--fd", "3", "--max-frame", "100"],  # below the minimum
    ["--fd", "3", "--worker-id", "-1"],
    ["--fd", "3", "--wor", "abbreviated"],
    ["--fd", "3", "stray"],
    ["--fd", "3", "--", "--module", "x"],
    ["--fd", "+3"],
    ["--fd", "٣"],  # a digit, not an ASCII one
    ["--fd", "3", "--concurrency", "0"],  # not a positive count
    ["--fd", "3", "--sync-threads", "x"],
    ["--fd", "3", "--slow-callback", "1e-1"],  # a number argparse reads, not the plain shape
    ["--fd", "3", "--slow-callback", "inf"],
    ["--fd", "3", "--slow-callback", "0.1.2"],
]


class MainArgsTest(unittest.TestCase):
    def test_the_plain_shape_parses_as_argparse_parses_it(self) -> None:
        for argv in PLAIN:
            with self.subTest(argv=argv):
                quick = quick_parse(argv)
                self.assertIsNotNone(quick)
                self.assertEqual(vars(quick), vars(_parser().parse_args(argv)))

    def test_defaults_match(self) -> None:
        quick = quick_parse(["--fd", "3"])
        assert quick is not None
        self.assertEqual((quick.worker_id, quick.max_frame, quick.module, quick.run_id, quick.alive_fd),
                         ("", DEFAULT_MAX_FRAME, [], "", None))
        self.assertEqual((quick.concurrency, quick.sync_threads, quick.slow_callback), (1, 0, 0.1))
        self.assertEqual(vars(quick), vars(_parser().parse_args(["--fd", "3"])))

    def test_anything_else_is_left_to_argparse(self) -> None:
        for argv in ODD:
            with self.subTest(argv=argv):
                self.assertIsNone(quick_parse(argv))

    def test_argparse_still_explains_a_bad_command_line(self) -> None:
        err = io.StringIO()
        with contextlib.redirect_stderr(err), self.assertRaises(SystemExit) as exited:
            _parser().parse_args(["--fd", "3", "--max-frame", "100"])
        self.assertEqual(exited.exception.code, 2)
        self.assertIn("below the protocol's minimum frame limit of 1024 bytes", err.getvalue())

    def test_argparse_reads_seconds_in_any_notation_and_refuses_the_rest(self) -> None:
        self.assertEqual(_parser().parse_args(["--fd", "3", "--slow-callback", "1e-1"]).slow_callback, 0.1)
        for bad in (["--slow-callback", "inf"], ["--slow-callback", "-0.5"], ["--sync-threads", "-1"]):
            with self.subTest(argv=bad):
                err = io.StringIO()
                with contextlib.redirect_stderr(err), self.assertRaises(SystemExit):
                    _parser().parse_args(["--fd", "3", *bad])


if __name__ == "__main__":
    unittest.main()
