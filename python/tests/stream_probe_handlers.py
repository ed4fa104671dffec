"""A stream that waits between its items, for a probe pipelined behind it."""

import threading
from typing import Any, Iterator

# Set by the test once it has sent the probe: the stream then goes on.
go_on = threading.Event()


def paced_items(args: Any) -> Iterator[int]:
    """Yield args items; before the second, wait for go_on."""
    for i in range(int(args)):
        if i == 1:
            go_on.wait(10)
        yield i
