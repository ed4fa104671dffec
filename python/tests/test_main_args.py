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


if __name__ == "__main__":
    unittest.main()
