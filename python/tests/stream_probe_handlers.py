"""A stream and an async handler that wait, for a probe pipelined behind them."""

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


async def paced_wait(args: Any) -> str:
    """Await go_on (set from the test's thread), polling the event loop."""
    import asyncio

    while not go_on.is_set():
        await asyncio.sleep(0.01)
    return "done"
